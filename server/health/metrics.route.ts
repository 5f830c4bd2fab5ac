import { createHash, timingSafeEqual } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { ApiError, InvalidToken } from '../errors.js'
import { isLoopbackHost } from '../url-rules.js'
import { ignorePressure } from '../http/overload.js'
import { ErrorResponse } from '../http/error-response.schema.js'

/** IPv4 loopback may arrive IPv4-mapped on a dual-stack socket. */
const isLoopbackAddress = (ip: string): boolean => isLoopbackHost(ip.replace(/^::ffff:/i, '')) && ip !== 'localhost'

/** Equal-length digests, so neither the token's length nor its bytes show in the comparison time. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/**
 * The bearer token when LATCHKEY_METRICS_TOKEN is set; otherwise loopback clients only. A request
 * a proxy forwarded is never "loopback", even from a proxy on the same host that is not declared in
 * LATCHKEY_TRUST_PROXY (then request.ip is the proxy's own loopback address).
 */
function assertMayScrape(deps: Pick<Deps, 'config'>, request: FastifyRequest, expected: Buffer | null): void {
  if (expected === null) {
    const forwarded = request.headers['x-forwarded-for'] !== undefined || request.headers.forwarded !== undefined
    if (!forwarded && isLoopbackAddress(request.ip)) return
    throw new ApiError('access_denied', 403, 'metrics are served to loopback clients only; set LATCHKEY_METRICS_TOKEN')
  }
  const match = /^Bearer ([\x21-\x7e]+)$/.exec(request.headers.authorization ?? '')
  if (match === null || !timingSafeEqual(digest(match[1]!), expected))
    throw new InvalidToken('a valid metrics token is required')
}

/** GET /metrics: Prometheus text exposition of this instance's registry (server/metrics/). */
const metricsRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const expected = deps.config.metricsToken === null ? null : digest(deps.config.metricsToken)
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (text exposition format 0.0.4)',
        tags: ['operations'],
        security: [{ metricsToken: [] }, {}],
        response: {
          200: Type.String({ description: 'Prometheus text format' }),
          401: ErrorResponse,
          403: ErrorResponse,
        },
      },
      logLevel: 'warn',
      config: { pressureHandler: ignorePressure },
      onRequest: async (request) => assertMayScrape(deps, request, expected),
    },
    async (_request, reply) => {
      const text = await deps.metrics.registry.metrics()
      return reply.type(deps.metrics.registry.contentType).send(text)
    },
  )
}

export default metricsRoute
