import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { loginRateLimit } from '../http/rate-limit.js'
import { AccessTokenResponse, Credentials, ErrorResponse } from '../users/user.schema.js'
import { assertLoginCapacity, authenticatePassword } from '../users/authenticate-password.js'
import { FIRST_PARTY_CLIENT_ID } from '../clients/client.js'
import { setSessionCookie } from './session-cookie.js'
import { startSession } from '../sessions/start-session.js'
import { issueUserAccessToken } from '../tokens/user-access-token.js'

/**
 * POST /auth/login: password login for the first-party app; success opens a session whose
 * refresh token lives in the HttpOnly session cookie.
 */
const loginRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/login',
    {
      schema: {
        body: Credentials,
        response: {
          200: AccessTokenResponse,
          400: ErrorResponse,
          401: ErrorResponse,
          403: ErrorResponse,
          429: ErrorResponse,
          503: ErrorResponse,
        },
      },
      config: { rateLimit: loginRateLimit },
      // A saturated hashing queue answers before the body is even read: a flood then costs the
      // event loop as little as possible, leaving it to tokens, JWKS and health checks.
      onRequest: async () => assertLoginCapacity(deps),
    },
    async (request, reply) => {
      const user = await authenticatePassword(deps, request.body, { ip: request.ip })
      const { session, refreshToken } = await startSession(deps, user, {
        clientId: FIRST_PARTY_CLIENT_ID,
        scopes: [],
        audience: deps.config.defaultAudience,
        amr: ['pwd'],
        ip: request.ip,
        userAgent: request.headers['user-agent'] ?? null,
      })
      const access = await issueUserAccessToken(deps, user, session)
      deps.metrics.tokensIssued.inc({ grant: 'password_login' })
      await recordAuditEvent(deps, {
        event: 'login.succeeded',
        userId: user.id,
        clientId: FIRST_PARTY_CLIENT_ID,
        sessionId: session.id,
        ip: request.ip,
      })
      setSessionCookie(reply, refreshToken, session.expiresAt, deps.clock.now())
      return { access_token: access.token, token_type: 'Bearer' as const, expires_in: access.expiresIn }
    },
  )
}

export default loginRoute
