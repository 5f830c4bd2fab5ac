import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Client } from '../clients/client.js'
import { InvalidClient } from '../errors.js'
import { authenticateClient } from './client-auth.js'
import { ipGroupOf, rateLimited, TOKEN_RATE_LIMIT_WINDOW_MS } from './rate-limit.js'

/** Client authentication of an OAuth request, behind the per-source budget of failures. */
export type AuthenticateClient = (
  request: FastifyRequest,
  params: Parameters<typeof authenticateClient>[2],
) => Promise<Client>

/**
 * Client authentication for every route that does it (/oauth/token, /oauth/introspect,
 * /oauth/revoke, /oauth/device_authorization), behind one per-source budget of failed client
 * authentications (LATCHKEY_TOKEN_FAILURE_RATE_LIMIT a minute per IP, IPv6 /64): every
 * invalid_client answer from authenticateClient counts, wherever it was given, and once a source
 * has used the budget, every route refuses it (429 rate_limited, Retry-After) for the rest of the
 * window before any client lookup, so a secret cannot be guessed at one endpoint after another was
 * closed, and a flood costs one counter read per request. One limiter for all routes: without
 * Redis, each limiter counts in its own memory. 0 turns it off, as LATCHKEY_RATE_LIMITS=false does.
 */
export function createClientAuthentication(
  app: FastifyInstance,
  deps: Parameters<typeof authenticateClient>[0],
  failuresPerIp: number,
): AuthenticateClient {
  const failures =
    failuresPerIp > 0
      ? app.createRateLimit({
          max: failuresPerIp,
          timeWindow: TOKEN_RATE_LIMIT_WINDOW_MS,
          keyGenerator: (request) => `client-auth-failures:${ipGroupOf(request.ip)}`,
        })
      : null
  return async (request, params) => {
    if (failures) {
      const read = await failures(request, { increment: false })
      if (!read.isAllowed && read.remaining === 0 && read.ttl > 0) throw rateLimited(read.ttl)
    }
    try {
      return await authenticateClient(deps, request.headers, params)
    } catch (error) {
      if (failures && error instanceof InvalidClient) await failures(request)
      throw error
    }
  }
}
