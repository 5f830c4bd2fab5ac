import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { ApiError, InvalidGrant } from '../errors.js'
import { allowedOrigins } from '../http/allowed-origins.js'
import { refreshRateLimit } from '../http/rate-limit.js'
import { findUserById } from '../users/user.store.js'
import { AccessTokenResponse, ErrorResponse } from '../users/user.schema.js'
import { rotateRefreshToken } from '../sessions/rotate-refresh-token.js'
import { FIRST_PARTY_CLIENT_ID } from '../clients/client.js'
import {
  assertTrustedCookieRequest,
  clearSessionCookie,
  readSessionCookie,
  setSessionCookie,
} from './session-cookie.js'
import { issueUserAccessToken } from '../tokens/user-access-token.js'

/** POST /auth/refresh: rotates the refresh token in the session cookie and returns a new access token. */
const refreshRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const origins = allowedOrigins(deps.config)
  app.post(
    '/refresh',
    {
      schema: { response: { 200: AccessTokenResponse, 401: ErrorResponse, 403: ErrorResponse, 429: ErrorResponse } },
      config: { rateLimit: refreshRateLimit },
    },
    async (request, reply) => {
      assertTrustedCookieRequest(request, origins)
      const presented = readSessionCookie(request)
      const noSession = () => {
        clearSessionCookie(reply)
        return new ApiError('invalid_session', 401, 'there is no valid session; sign in again')
      }
      if (presented === null) throw noSession()
      let rotated
      try {
        rotated = await rotateRefreshToken(deps, presented, FIRST_PARTY_CLIENT_ID, { ip: request.ip })
      } catch (error) {
        if (error instanceof InvalidGrant) throw noSession()
        throw error
      }
      const user = await findUserById(deps.db, rotated.session.userId)
      if (!user || user.disabled) throw noSession()
      const access = await issueUserAccessToken(deps, user, rotated.session)
      deps.metrics.tokensIssued.inc({ grant: 'session_refresh' })
      setSessionCookie(reply, rotated.refreshToken, rotated.session.expiresAt, deps.clock.now())
      return { access_token: access.token, token_type: 'Bearer' as const, expires_in: access.expiresIn }
    },
  )
}

export default refreshRoute
