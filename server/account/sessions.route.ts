import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { NotFound } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { requireUser } from '../sessions/bearer-auth.js'
import { ErrorResponse } from '../users/user.schema.js'
import { findLiveSessionsOfUser, findSessionById } from '../sessions/session.store.js'
import { endSession } from '../sessions/end-user-access.js'
import { SessionList, SessionParams } from './sessions.schema.js'

const iso = (ms: number) => new Date(ms).toISOString()

/** GET /auth/sessions lists the user's live sessions; DELETE /auth/sessions/:id ends one (ASVS 7.4.x). */
const sessionsRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const preHandler = requireUser(deps.verifier.verifyAccessToken, deps.firstPartyAudiences)

  app.get(
    '/sessions',
    { schema: { response: { 200: SessionList, 401: ErrorResponse } }, preHandler },
    async (request) => {
      const { userId, sessionId } = request.userAuth!
      const sessions = await findLiveSessionsOfUser(deps.db, userId, deps.clock.now())
      return {
        sessions: sessions.map((s) => ({
          id: s.id,
          current: s.id === sessionId,
          client_id: s.clientId,
          created_at: iso(s.createdAt),
          last_used_at: iso(s.lastUsedAt),
          expires_at: iso(s.expiresAt),
          ip: s.ip,
          user_agent: s.userAgent,
        })),
      }
    },
  )

  app.delete(
    '/sessions/:id',
    {
      schema: { params: SessionParams, response: { 204: { type: 'null' }, 401: ErrorResponse, 404: ErrorResponse } },
      preHandler,
    },
    async (request, reply) => {
      const { userId } = request.userAuth!
      const session = await findSessionById(deps.db, request.params.id)
      // Another user's session id answers exactly like an unknown one.
      if (!session || session.userId !== userId || session.revokedAt !== null) throw new NotFound('no such session')
      await endSession(deps.db, session.id, 'user_revoked', deps.clock.now())
      await recordAuditEvent(deps, { event: 'session.revoked', userId, sessionId: session.id, ip: request.ip })
      return reply.code(204).send(null)
    },
  )
}

export default sessionsRoute
