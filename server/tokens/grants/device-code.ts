import type { Client } from '../../clients/client.js'
import { DEVICE_CODE_GRANT } from '../../clients/client.js'
import type { Deps } from '../../deps.js'
import {
  AccessDenied,
  AuthorizationPending,
  ExpiredToken,
  InvalidGrant,
  InvalidRequest,
  SlowDown,
  UnauthorizedClient,
} from '../../errors.js'
import { hashOpaqueToken } from '../../opaque-token.js'
import {
  claimDeviceAuthorization,
  findDeviceAuthorization,
  recordDevicePoll,
} from '../../sessions/device-authorization.store.js'
import { startSession } from '../../sessions/start-session.js'
import { findUserById } from '../../users/user.store.js'
import { issueIdToken } from '../id-token.js'
import { issueUserAccessToken } from '../user-access-token.js'
import type { TokenRequest, TokenResponse } from '../token.schema.js'
import { tokenTypeFor, type DpopBinding } from '../dpop-token-request.js'
import { bindRefreshTokensToKey } from '../dpop-refresh.js'

const invalidCode = () => new InvalidGrant('device code is invalid or already used')

/**
 * RFC 8628 §3.4–3.5: the device polls with its device code. Until the user answers at /device it
 * hears authorization_pending (slow_down when it polls before the interval, which then grows by 5 s),
 * then access_denied or, once, the same tokens as the authorization-code grant: an access token, a
 * refresh token (a new session) and, for `openid`, an ID token. A device code of another client is
 * refused like an unknown one. With a DPoP proof on the poll that collects them (RFC 9449 §5) the
 * access token is bound to its key and, for a public client, so is the session's refresh-token family.
 */
export async function deviceCodeGrant(
  deps: Deps,
  client: Client,
  params: TokenRequest,
  dpop?: DpopBinding,
): Promise<TokenResponse> {
  if (!client.grantTypes.includes(DEVICE_CODE_GRANT))
    throw new UnauthorizedClient('this client may not use the device_code grant')
  if (params.device_code === undefined) throw new InvalidRequest('device_code is required')

  const now = deps.clock.now()
  const deviceCodeHash = hashOpaqueToken(params.device_code)
  const found = await findDeviceAuthorization(deps.db, deviceCodeHash)
  if (!found || found.clientId !== client.id || found.usedAt !== null) throw invalidCode()
  if (found.expiresAt <= now) throw new ExpiredToken('the device code has expired: start a new sign-in')
  if (found.status === 'denied') throw new AccessDenied('the user denied the sign-in')
  if (found.status === 'pending') {
    if (!(await recordDevicePoll(deps.db, deviceCodeHash, now))) throw new SlowDown()
    throw new AuthorizationPending()
  }

  const approved = await claimDeviceAuthorization(deps.db, deviceCodeHash, now)
  if (!approved?.approval) throw invalidCode()
  const { approval, scopes } = approved
  const user = await findUserById(deps.db, approval.userId)
  if (!user || user.disabled || approval.authTime < user.tokensValidAfter)
    throw new InvalidGrant('the user of this grant can no longer sign in')
  const { session, refreshToken } = await startSession(deps, user, {
    clientId: client.id,
    scopes,
    audience: approved.audience,
    amr: approval.amr,
    ip: approval.ip,
    userAgent: approval.userAgent,
    authTime: approval.authTime,
  })
  await bindRefreshTokensToKey(deps, client, session.id, dpop)
  const access = await issueUserAccessToken(deps, user, session, dpop?.jkt)
  const idToken = scopes.includes('openid')
    ? await issueIdToken(deps, {
        user,
        clientId: client.id,
        scopes,
        nonce: null,
        authTime: approval.authTime,
        sessionId: session.id,
        amr: approval.amr,
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
