import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import underPressure from '@fastify/under-pressure'
import { ServiceUnavailable } from '../errors.js'

/** What a refused client (or a load balancer's health check) is told to wait before trying again. */
export const OVERLOAD_RETRY_AFTER_SECONDS = 5

/**
 * When the event loop lags (its mean delay over the last second above LATCHKEY_MAX_EVENT_LOOP_DELAY_MS),
 * every request is refused at once with 503 and Retry-After, /readyz included, so a load balancer
 * steers traffic to other instances until this one catches up. Routes whose config sets
 * `pressureHandler: ignorePressure` (/healthz, /metrics) still answer: a lagging process is alive,
 * and its metrics show why it lags.
 */
export default fp(async function overload(app: FastifyInstance, options: { maxEventLoopDelayMs: number }) {
  if (options.maxEventLoopDelayMs === 0) return
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    retryAfter: OVERLOAD_RETRY_AFTER_SECONDS,
    pressureHandler: async () => {
      throw new ServiceUnavailable('the server is overloaded; retry shortly', OVERLOAD_RETRY_AFTER_SECONDS)
    },
  })
})

/** A route's pressureHandler that lets the request through regardless. */
export const ignorePressure = (): undefined => undefined
