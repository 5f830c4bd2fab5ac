import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { queryAuditEvents } from './audit-admin.js'
import { AuditPage, AuditQuery, ErrorResponse } from './admin.schema.js'

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse }

/** /admin/audit: the audit trail, newest first, by type, user and time. */
const auditRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.get('/audit', { schema: { querystring: AuditQuery, response: { 200: AuditPage, ...errors } } }, (request) => {
    const { type, user_id, since, cursor, limit } = request.query
    return queryAuditEvents(
      deps,
      {
        ...(type !== undefined ? { type } : {}),
        ...(user_id !== undefined ? { userId: user_id } : {}),
        ...(since !== undefined ? { since } : {}),
      },
      { ...(cursor !== undefined ? { cursor } : {}), ...(limit !== undefined ? { limit } : {}) },
    )
  })
}

export default auditRoute
