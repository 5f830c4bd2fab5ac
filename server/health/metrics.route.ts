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

/** Headers a proxy adds (de facto and RFC 7239 / RFC 9110 §7.6.3): their presence means forwarded. */
const FORWARDING_HEADERS = [
  'forwarded',
  'via',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-real-ip',
  'x-client-ip',
]

/**
 * The bearer token when LATCHKEY_METRICS_TOKEN is set; otherwise loopback clients only, judged by
 * the socket's own peer address (never request.ip, which LATCHKEY_TRUST_PROXY lets a header set)
 * and the absence of every forwarding header. With LATCHKEY_TRUST_PROXY set there is a proxy in
 * front, and one on the same host that adds no header is indistinguishable from a local client, so
 * the loopback allowance is off and the token is required.
 */
function assertMayScrape(deps: Pick<Deps, 'config'>, request: FastifyRequest, expected: Buffer | null): void {
  if (expected === null) {
    if (deps.config.trustProxy !== false)
      throw new ApiError(
        'access_denied',
        403,
        'behind LATCHKEY_TRUST_PROXY a loopback connection may be the proxy: set LATCHKEY_METRICS_TOKEN to serve metrics',
      )
    const forwarded = FORWARDING_HEADERS.some((name) => request.headers[name] !== undefined)
    const peer = request.raw.socket.remoteAddress
    if (!forwarded && peer !== undefined && isLoopbackAddress(peer)) return
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
