import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

/** One access-log line per request, with the path only: query strings can carry codes and tokens. */
export default fp(async function requestLog(app: FastifyInstance) {
  // Decided once: the level is fixed at startup, and a disabled line should cost nothing.
  if (!['info', 'debug', 'trace'].includes(app.log.level)) return
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        path: request.url.split('?')[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        ip: request.ip,
      },
      'request completed',
    )
  })
})
