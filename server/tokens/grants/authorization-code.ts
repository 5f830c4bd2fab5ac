import { randomBytes } from 'node:crypto'
import type { Client } from '../../clients/client.js'
import type { Deps } from '../../deps.js'
import { InvalidGrant, InvalidRequest, InvalidTarget, UnauthorizedClient } from '../../errors.js'
import { recordAuditEvent } from '../../audit/record-audit-event.js'
import {
  claimAuthorizationCode,
  isAuthorizationCodeReplayed,
  markAuthorizationCodeReplayed,
} from '../../sessions/authorization-code.store.js'
import { hashOpaqueToken } from '../../opaque-token.js'
import { endSession } from '../../sessions/end-user-access.js'
import { startSession } from '../../sessions/start-session.js'
import { issueUserAccessToken } from '../user-access-token.js'
import { findUserById } from '../../users/user.store.js'
import { issueIdToken } from '../id-token.js'
import { isWellFormedCodeVerifier, verifyS256 } from '../pkce.js'
import { SigninSuperseded } from '../../users/signin-proof.js'
import type { TokenRequest, TokenResponse } from '../token.schema.js'
import { tokenTypeFor, type DpopBinding } from '../dpop-token-request.js'
import { bindRefreshTokensToKey } from '../dpop-refresh.js'
import { InvalidDpopProof } from '../dpop-errors.js'

const invalidCode = () => new InvalidGrant('authorization code is invalid, expired or already used')

/**
 * RFC 6749 §4.1.3 with RFC 7636 §4.5: a code for an access token, a refresh token (a new session,
 * rotated like any other) and, for `openid`, an ID token. A code works once; presented again it
 * fails and the session its first use opened is revoked (RFC 6749 §4.1.2).
 */
export async function authorizationCodeGrant(
  deps: Deps,
  client: Client,
  params: TokenRequest,
  dpop?: DpopBinding,
): Promise<TokenResponse> {
  if (!client.grantTypes.includes('authorization_code'))
    throw new UnauthorizedClient('this client may not use the authorization_code grant')
  if (params.code === undefined) throw new InvalidRequest('code is required')
  if (params.redirect_uri === undefined) throw new InvalidRequest('redirect_uri is required')
  // Every code was issued with an S256 challenge, so a request without a verifier is a PKCE downgrade.
  if (params.code_verifier === undefined)
    throw new InvalidGrant('code_verifier is required: the code was issued for PKCE')
  if (!isWellFormedCodeVerifier(params.code_verifier))
    throw new InvalidRequest('code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~')

  const now = deps.clock.now()
  const codeHash = hashOpaqueToken(params.code)
  // The session id is recorded with the claim, so a replay from now on knows what to revoke.
  const sessionId = randomBytes(16).toString('base64url')
  // Claimed only by the client it was issued to (finding L1): another client holding a leaked
  // code cannot burn it, and its attempt is no replay. The code's own client still uses it up with
  // a wrong redirect_uri or verifier, and its replay revokes (RFC 9700 §4.2.4).
  const code = await claimAuthorizationCode(deps.db, codeHash, { now, sessionId, clientId: client.id })
  if (!code) {
    const replay = await markAuthorizationCodeReplayed(deps.db, codeHash, client.id, now)
    if (replay?.sessionId != null) await revokeReplayedSession(deps, replay.sessionId, client.id, now)
    throw invalidCode()
  }
  if (code.expiresAt <= now) throw invalidCode()
  if (code.redirectUri !== params.redirect_uri)
    throw new InvalidGrant('redirect_uri does not match the authorization request')
  if (!verifyS256(params.code_verifier, code.codeChallenge))
    throw new InvalidGrant('code_verifier does not match the code_challenge')
  if (params.resource !== undefined && params.resource !== code.audience)
    throw new InvalidTarget('resource differs from the authorization request')
  assertCodeKeyProven(code.dpopJkt, dpop)

  const user = await findUserById(deps.db, code.userId)
  if (!user || user.disabled || code.authTime < user.tokensValidAfter) throw userGone()
  const { scopes, amr } = code
  let started
  try {
    // The user is checked again where the session is written (signin-proof.ts, finding H1).
    started = await startSession(deps, user, {
      clientId: client.id,
      scopes,
      audience: code.audience,
      amr,
      ip: code.ip,
      userAgent: code.userAgent,
      authTime: code.authTime,
      id: sessionId,
      signinSessionId: code.signinSessionId,
    })
  } catch (error) {
    if (error instanceof SigninSuperseded) throw userGone()
    throw error
  }
  const { session, refreshToken } = started
  // A replay that arrived before the session existed could not revoke it: it is seen here instead.
  if (await isAuthorizationCodeReplayed(deps.db, codeHash)) {
    await revokeReplayedSession(deps, session.id, client.id, now)
    throw invalidCode()
  }
  await bindRefreshTokensToKey(deps, client, session.id, dpop)
  const access = await issueUserAccessToken(deps, user, session, dpop?.jkt)
  const idToken = scopes.includes('openid')
    ? await issueIdToken(deps, {
        user,
        clientId: client.id,
        scopes,
        nonce: code.nonce,
        authTime: code.authTime,
        sessionId: session.id,
        amr,
        accessToken: access.token,
      })
    : null
  return {
    access_token: access.token,
    token_type: tokenTypeFor(dpop),
    expires_in: access.expiresIn,
    ...(client.grantTypes.includes('refresh_token') ? { refresh_token: refreshToken } : {}),
    ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}),
    ...(idToken === null ? {} : { id_token: idToken }),
  }
}

/**
 * RFC 9449 §10: a code requested with dpop_jkt is exchanged only with a proof of that key, so a
 * code intercepted on its way back to the app is useless without the app's private key. Checked
 * after the claim: like a wrong code_verifier, a wrong or missing proof uses the code up.
 */
function assertCodeKeyProven(dpopJkt: string | null, dpop: DpopBinding | undefined): void {
  if (dpopJkt === null) return
  if (dpop?.jkt == null)
    throw new InvalidDpopProof('this code was requested with dpop_jkt: send a DPoP proof of that key')
  if (dpop.jkt !== dpopJkt)
    throw new InvalidGrant('the DPoP proof key does not match the dpop_jkt of the authorization request')
}

const userGone = () => new InvalidGrant('the user of this grant can no longer sign in')

async function revokeReplayedSession(deps: Deps, sessionId: string, clientId: string, now: number): Promise<void> {
  if (await endSession(deps.db, sessionId, 'code_replay', now)) {
    await recordAuditEvent(deps, { event: 'authorization_code.reused', clientId, sessionId })
  }
}
