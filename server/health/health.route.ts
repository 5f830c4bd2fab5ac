import { sql } from 'kysely'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { ignorePressure, OVERLOAD_RETRY_AFTER_SECONDS } from '../http/overload.js'

const Status = Type.Object({ status: Type.String(), checks: Type.Optional(Type.Record(Type.String(), Type.String())) })

/**
 * /healthz: the process answers (never touches the database or Redis, so an orchestrator does
 * not restart instances for an outage they cannot fix). /readyz: it can serve (database
 * reachable, a signing key active, and Redis answering when REDIS_URL is set).
 */
const healthRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.get(
    '/healthz',
    { schema: { response: { 200: Status } }, logLevel: 'warn', config: { pressureHandler: ignorePressure } },
    async () => ({ status: 'ok' }),
  )

  app.get(
    '/readyz',
    {
      schema: { response: { 200: Status, 503: Status } },
      logLevel: 'warn',
      // A lagging event loop (http/overload.ts) makes this instance not ready, in /readyz's own shape.
      config: {
        pressureHandler: (_request: FastifyRequest, reply: FastifyReply) => {
          reply.code(503).header('retry-after', String(OVERLOAD_RETRY_AFTER_SECONDS))
          return { status: 'not ready', checks: { event_loop: 'lagging' } }
        },
      },
    },
    async (request, reply) => {
      let database = 'ok'
      try {
        await sql`select 1`.execute(deps.db)
      } catch (error) {
        request.log.warn({ event: 'readyz.database_unavailable', err: error }, 'database check failed')
        database = 'unavailable'
      }
      const keys = deps.keystore.activeKid() ? 'ok' : 'no active signing key'
      const checks: Record<string, string> = { database, keys }
      if (deps.redis) {
        try {
          await deps.redis.ping()
          checks.redis = 'ok'
        } catch (error) {
          request.log.warn({ event: 'readyz.redis_unavailable', err: error }, 'redis check failed')
          checks.redis = 'unavailable'
        }
      }
      const ready = Object.values(checks).every((check) => check === 'ok')
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks })
    },
  )
}

export default healthRoute
