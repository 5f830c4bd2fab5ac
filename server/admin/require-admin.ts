import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Deps } from '../deps.js'
import { InsufficientScope, InvalidToken } from '../errors.js'
import { ADMIN_SCOPE } from '../clients/client.js'
import { readBearerToken } from '../sessions/bearer-auth.js'
import type { Actor } from './admin-actor.js'

declare module 'fastify' {
  interface FastifyRequest {
    adminActor: Actor | null
  }
}

/**
 * preHandler of every /admin route: a live access token a client obtained for itself
 * (client_credentials, no user session) for Latchkey's own audience, with the scope
 * latchkey:admin, whose client still exists and still holds that scope (an admin demoted or
 * deleted loses access within the client cache's 5 s, not at its token's expiry). RFC 6750 §3.1:
 * a missing or bad token is 401 invalid_token, a good token without the scope 403
 * insufficient_scope.
 */
export function requireAdmin(deps: Pick<Deps, 'verifier' | 'findClient' | 'config'>) {
  return async function requireAdminHook(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const token = readBearerToken(request)
    if (token === null) throw new InvalidToken('a bearer access token is required')
    const claims = await deps.verifier.verifyAccessToken(token)
    if (!claims) throw new InvalidToken()
    // RFC 9449 §7.2: a DPoP-bound token is never good as a bearer token (the admin API takes bearer only).
    if (claims.cnf !== undefined) throw new InvalidToken('a DPoP-bound access token is not accepted here')
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
    if (!aud.includes(deps.config.issuer)) throw new InvalidToken('the access token is not meant for Latchkey')
    const scopes = (claims.scope ?? '').split(' ')
    const client = await deps.findClient(claims.client_id)
    if (
      claims.sid !== undefined ||
      claims.sub !== claims.client_id ||
      !scopes.includes(ADMIN_SCOPE) ||
      !client?.scopes.includes(ADMIN_SCOPE)
    )
      throw new InsufficientScope(ADMIN_SCOPE)
    request.adminActor = { kind: 'client', clientId: claims.client_id, ip: request.ip }
  }
}
