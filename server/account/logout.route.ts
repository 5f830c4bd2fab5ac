import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { allowedOrigins } from '../http/allowed-origins.js'
import { requireUser } from '../sessions/bearer-auth.js'
import { ErrorResponse } from '../users/user.schema.js'
import { hashOpaqueToken } from '../opaque-token.js'
import { findRefreshTokenByHash } from '../sessions/refresh-token.store.js'
import { endSession, endUserAccess } from '../sessions/end-user-access.js'
import { assertTrustedCookieRequest, clearSessionCookie, readSessionCookie } from './session-cookie.js'

/**
 * POST /auth/logout ends the session in the cookie (idempotent: 204 even without one);
 * POST /auth/logout-all ends every session of the signed-in user and voids their access tokens.
 */
const logoutRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const origins = allowedOrigins(deps.config)
  const schema = { response: { 204: { type: 'null' }, 401: ErrorResponse, 403: ErrorResponse } } as const

  app.post('/logout', { schema }, async (request, reply) => {
    assertTrustedCookieRequest(request, origins)
    const presented = readSessionCookie(request)
    if (presented !== null) {
      const found = await findRefreshTokenByHash(deps.db, hashOpaqueToken(presented))
      if (found && (await endSession(deps.db, found.session.id, 'logout', deps.clock.now()))) {
        await recordAuditEvent(deps, {
          event: 'session.logout',
          userId: found.session.userId,
          sessionId: found.session.id,
          ip: request.ip,
        })
      }
    }
    clearSessionCookie(reply)
    return reply.code(204).send(null)
  })

  app.post(
    '/logout-all',
    { schema, preHandler: requireUser(deps.verifier.verifyAccessToken, deps.firstPartyAudiences) },
    async (request, reply) => {
      const { userId } = request.userAuth!
      const now = deps.clock.now()
      const revoked = await deps.db.transaction().execute((trx) => endUserAccess(trx, userId, 'logout_all', { now }))
      await recordAuditEvent(deps, {
        event: 'session.logout_all',
        userId,
        ip: request.ip,
        details: { sessions: revoked.length },
      })
      clearSessionCookie(reply)
      return reply.code(204).send(null)
    },
  )
}

export default logoutRoute
