import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { Deps } from '../deps.js'
import { NotFound } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { requireUser } from '../sessions/bearer-auth.js'
import { endUserAccess } from '../sessions/end-user-access.js'
import { ErrorResponse } from '../users/user.schema.js'
import { deleteConsent, listConsentsOfUser } from './consent.store.js'

const ConsentList = Type.Object({
  consents: Type.Array(
    Type.Object({
      client_id: Type.String(),
      client_name: Type.Union([Type.String(), Type.Null()]),
      scope: Type.String(),
      created_at: Type.String(),
      updated_at: Type.String(),
    }),
  ),
})
const ConsentParams = Type.Object({ client_id: Type.String({ minLength: 1, maxLength: 128 }) })
const iso = (ms: number) => new Date(ms).toISOString()

/**
 * GET /auth/consents lists the apps a user allowed; DELETE /auth/consents/:client_id withdraws one,
 * which also ends that app's sessions for the user: its refresh tokens and access tokens stop working.
 */
const consentsRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const preHandler = requireUser(deps.verifier.verifyAccessToken, deps.firstPartyAudiences)

  app.get(
    '/consents',
    { schema: { response: { 200: ConsentList, 401: ErrorResponse } }, preHandler },
    async (request) => {
      const granted = await listConsentsOfUser(deps.db, request.userAuth!.userId)
      const consents = await Promise.all(
        granted.map(async (consent) => ({
          client_id: consent.clientId,
          client_name: (await deps.findClient(consent.clientId))?.name ?? null,
          scope: consent.scopes.join(' '),
          created_at: iso(consent.createdAt),
          updated_at: iso(consent.updatedAt),
        })),
      )
      return { consents }
    },
  )

  app.delete(
    '/consents/:client_id',
    {
      schema: { params: ConsentParams, response: { 204: { type: 'null' }, 401: ErrorResponse, 404: ErrorResponse } },
      preHandler,
    },
    async (request, reply) => {
      const { userId } = request.userAuth!
      const clientId = request.params.client_id
      const now = deps.clock.now()
      const withdrawn = await deps.db.transaction().execute(async (trx) => {
        if (!(await deleteConsent(trx, userId, clientId))) return false
        await endUserAccess(trx, userId, 'consent_withdrawn', { now, clientId })
        return true
      })
      if (!withdrawn) throw new NotFound('no consent for this app')
      await recordAuditEvent(deps, { event: 'consent.revoked', userId, clientId, ip: request.ip })
      return reply.code(204).send(null)
    },
  )
}

export default consentsRoute
