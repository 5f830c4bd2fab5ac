import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Metrics } from '../metrics/metrics.js'

type Labels = { method: string; route: string; status_class: string }

/**
 * Every response observed in latchkey_http_request_duration_seconds, labelled by the route pattern
 * (`/auth/sessions/:id`, never the raw path: ids and query strings would explode the series and
 * may carry secrets) and the status class. Each route gets its own onResponse hook, which knows
 * its pattern and keeps one label object per method and status class: reading the pattern from
 * `request.routeOptions` builds a new options object on every call, and a response then costs no
 * allocation of labels. Requests no route matched are observed as `unmatched` by the app-wide hook.
 */
export default fp(async function requestMetrics(app: FastifyInstance, options: { metrics: Metrics }) {
  const histogram = options.metrics.httpRequestDuration
  const observer = (route: string) => {
    // Bounded: the methods Node's parser accepts times five status classes.
    const labelSets = new Map<string, Labels>()
    return (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      const statusClass =
        STATUS_CLASSES[Math.floor(reply.statusCode / 100)] ?? `${Math.floor(reply.statusCode / 100)}xx`
      const key = `${request.method} ${statusClass}`
      let labels = labelSets.get(key)
      if (!labels) labelSets.set(key, (labels = { method: request.method, route, status_class: statusClass }))
      histogram.observe(labels, reply.elapsedTime / 1000)
      done()
    }
  }
  app.addHook('onRoute', (route) => {
    const hook = observer(route.url)
    route.onResponse = route.onResponse === undefined ? [hook] : [route.onResponse, hook].flat()
  })
  const unmatched = observer('unmatched')
  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404) unmatched(request, reply, done)
    else done()
  })
})

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx']
