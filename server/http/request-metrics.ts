import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../metrics/metrics.js'

/**
 * Every response observed in latchkey_http_request_duration_seconds, labelled by the route pattern
 * (`/auth/sessions/:id`, never the raw path: ids and query strings would explode the series and
 * may carry secrets) and the status class.
 */
export default fp(async function requestMetrics(app: FastifyInstance, options: { metrics: Metrics }) {
  const histogram = options.metrics.httpRequestDuration
  app.addHook('onResponse', (request, reply, done) => {
    histogram.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status_class: `${Math.floor(reply.statusCode / 100)}xx`,
      },
      reply.elapsedTime / 1000,
    )
    done()
  })
})
