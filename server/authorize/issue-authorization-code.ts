import type { Deps } from '../deps.js'
import { generateOpaqueToken, hashOpaqueToken } from '../opaque-token.js'
import type { Signin } from './signin-session.js'
import { insertAuthorizationCode } from './authorization-code.store.js'
import type { AuthorizationRequest } from './authorization-request.js'

/** Where the user is signing in from. */
export interface Browser {
  ip: string | null
  userAgent: string | null
}

/** RFC 6749 §4.1.2: "a maximum authorization code lifetime of 10 minutes is RECOMMENDED"; ours is 60 s. */
export const AUTHORIZATION_CODE_TTL_MS = 60_000

/** A new code (256 bits from the CSPRNG) for a signed-in user; only its hash is stored. */
export async function issueAuthorizationCode(
  deps: Pick<Deps, 'db' | 'clock'>,
  request: AuthorizationRequest,
  signin: Signin,
  browser: Browser,
): Promise<string> {
  const code = generateOpaqueToken()
  const now = deps.clock.now()
  await insertAuthorizationCode(deps.db, {
    code_hash: hashOpaqueToken(code),
    client_id: request.client.id,
    user_id: signin.user.id,
    redirect_uri: request.redirectUri,
    scope: request.scopes.join(' '),
    audience: request.audience,
    code_challenge: request.codeChallenge,
    nonce: request.nonce,
    amr: JSON.stringify(signin.amr),
    auth_time: signin.authTime,
    ip: browser.ip,
    user_agent: browser.userAgent === null ? null : browser.userAgent.slice(0, 300),
    created_at: now,
    expires_at: now + AUTHORIZATION_CODE_TTL_MS,
    used_at: null,
    session_id: null,
    replayed_at: null,
  })
  return code
}
