import type { Deps } from '../deps.js'
import { generateOpaqueToken, hashOpaqueToken } from '../opaque-token.js'
import type { Signin } from './signin-session.js'
import { insertAuthorizationCode } from '../sessions/authorization-code.store.js'
import type { AuthorizationRequest } from './authorization-request.js'

/** Where the user is signing in from. */
export interface Browser {
  ip: string | null
  userAgent: string | null
}

/** RFC 6749 §4.1.2: "a maximum authorization code lifetime of 10 minutes is RECOMMENDED"; ours is 60 s. */
const AUTHORIZATION_CODE_TTL_MS = 60_000

/** A new code (256 bits from the CSPRNG) for a signed-in user; only its hash is stored. */
export async function issueAuthorizationCode(
  deps: Pick<Deps, 'db' | 'clock'>,
  request: AuthorizationRequest,
  signin: Signin,
  browser: Browser,
): Promise<string> {
  const code = generateOpaqueToken()
  const now = deps.clock.now()
  await insertAuthorizationCode(deps.db, hashOpaqueToken(code), {
    clientId: request.client.id,
    userId: signin.user.id,
    redirectUri: request.redirectUri,
    scopes: request.scopes,
    audience: request.audience,
    codeChallenge: request.codeChallenge,
    nonce: request.nonce,
    amr: signin.amr,
    authTime: signin.authTime,
    ip: browser.ip,
    userAgent: browser.userAgent === null ? null : browser.userAgent.slice(0, 300),
    createdAt: now,
    expiresAt: now + AUTHORIZATION_CODE_TTL_MS,
    signinSessionId: signin.id,
    dpopJkt: request.dpopJkt,
  })
  return code
}
