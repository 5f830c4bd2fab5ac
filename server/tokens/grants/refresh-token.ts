import type { Client } from '../../clients/client.js'
import type { Deps } from '../../deps.js'
import { InvalidGrant, InvalidRequest, InvalidScope, UnauthorizedClient } from '../../errors.js'
import { rotateRefreshToken } from '../../sessions/rotate-refresh-token.js'
import { issueUserAccessToken } from '../user-access-token.js'
import { findUserById } from '../../users/user.store.js'
import { parseScope } from '../../clients/scope.js'
import { issueIdToken } from '../id-token.js'
import type { TokenRequest, TokenResponse } from '../token.schema.js'
import { tokenTypeFor, type DpopBinding } from '../dpop-token-request.js'
import { bindOrCheckRefreshTokenKey } from '../dpop-refresh.js'

/**
 * RFC 6749 §6: a refresh token for a new access token and a rotated refresh token (RFC 9700
 * §4.14.2). The client must be the one the family was issued to; a scope may narrow the new access
 * token but never widen it.
 */
export async function refreshTokenGrant(
  deps: Deps,
  client: Client,
  params: TokenRequest,
  dpop?: DpopBinding,
): Promise<TokenResponse> {
  if (!client.grantTypes.includes('refresh_token'))
    throw new UnauthorizedClient('this client may not use the refresh_token grant')
  if (params.refresh_token === undefined) throw new InvalidRequest('refresh_token is required')
  await bindOrCheckRefreshTokenKey(deps, client, params.refresh_token, dpop)
  const rotated = await rotateRefreshToken(deps, params.refresh_token, client.id, { ip: null })
  const session = rotated.session
  let scopes = session.scopes
  if (params.scope !== undefined) {
    const requested = parseScope(params.scope)
    const wider = requested.filter((s) => !session.scopes.includes(s))
    if (wider.length > 0) throw new InvalidScope(`scope exceeds the original grant: ${wider.join(' ')}`)
    scopes = requested
  }
  const user = await findUserById(deps.db, session.userId)
  if (!user || user.disabled) throw new InvalidGrant('the user of this grant can no longer sign in')
  const access = await issueUserAccessToken(deps, user, { ...session, scopes }, dpop?.jkt)
  // OIDC Core §12.2: a grant that began with `openid` gets a new ID token on refresh, for the same
  // user, session and authentication (sub, sid, auth_time, amr), without a nonce (§12.2).
  const idToken = session.scopes.includes('openid')
    ? await issueIdToken(deps, {
        user,
        clientId: client.id,
        scopes,
        nonce: null,
        authTime: session.authTime,
        sessionId: session.id,
        amr: session.amr,
        accessToken: access.token,
      })
    : null
  return {
    access_token: access.token,
    token_type: tokenTypeFor(dpop),
    expires_in: access.expiresIn,
    refresh_token: rotated.refreshToken,
    ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}),
    ...(idToken === null ? {} : { id_token: idToken }),
  }
}
