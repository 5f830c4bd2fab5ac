import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { listSessionsOfUser, revokeSessionAsAdmin } from './session-admin.js'
import { ErrorResponse, IdParams, Revoked, SessionList, SessionQuery } from './admin.schema.js'

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse }

/** /admin/sessions: a user's sessions (one page: a user holds few), revoke one. */
const sessionsRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.get(
    '/sessions',
    { schema: { querystring: SessionQuery, response: { 200: SessionList, ...errors } } },
    async (request) => ({ items: await listSessionsOfUser(deps, request.query.user_id), next_cursor: null }),
  )

  app.delete('/sessions/:id', { schema: { params: IdParams, response: { 200: Revoked, ...errors } } }, (request) =>
    revokeSessionAsAdmin(deps, request.adminActor!, request.params.id),
  )
}

export default sessionsRoute
