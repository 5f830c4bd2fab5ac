import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { ipGroupOf, rateLimited, revokeClientRateLimit, revokeIpRateLimit } from '../http/rate-limit.js'
import type { Deps } from '../deps.js'
import { refuseMethodsOtherThanPost } from '../http/method-not-allowed.js'
import { OAuthError } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import type { AuthenticateClient } from '../http/client-auth-budget.js'
import { assertFormBody } from '../http/form-body.js'
import { hashOpaqueToken } from '../opaque-token.js'
import { findRefreshTokenByHash } from '../sessions/refresh-token.store.js'
import { revokeAccessToken } from '../sessions/revoked-access-token.store.js'
import { endSession } from '../sessions/end-user-access.js'
import { ErrorResponse, TokenHandleRequest } from './token.schema.js'

const tokenTypeHints = new Set(['access_token', 'refresh_token'])

/**
 * POST /oauth/revoke (RFC 7009). A refresh token ends its whole session; an access token is
 * remembered as revoked until it expires. Unknown tokens, and tokens of other clients (which are
 * left alone), answer 200 like success so the endpoint reveals nothing.
 */
const revokeRoute: FastifyPluginAsyncTypebox<{ deps: Deps; authenticate: AuthenticateClient }> = async (
  app,
  { deps, authenticate },
) => {
  // Counted per authenticated client, so no one can spend another client's budget by naming it. A
  // public client authenticates with its client_id alone, which anyone can send: its budget is
  // per client and source (IP, IPv6 /64), so junk from one place leaves its users elsewhere alone.
  const budgetKey = new WeakMap<FastifyRequest, string>()
  const checkClientLimit = app.createRateLimit({
    ...revokeClientRateLimit,
    keyGenerator: (request) => `revoke-client:${budgetKey.get(request) ?? ''}`,
  })
  app.post(
    '/revoke',
    {
      schema: {
        body: TokenHandleRequest,
        response: { 200: Type.Object({}), 400: ErrorResponse, 401: ErrorResponse, 429: ErrorResponse },
      },
      preValidation: assertFormBody,
      config: { rateLimit: revokeIpRateLimit },
    },
    async (request, reply) => {
      const client = await authenticate(request, request.body)
      budgetKey.set(request, client.type === 'public' ? `${client.id}:${ipGroupOf(request.ip)}` : client.id)
      const limit = await checkClientLimit(request)
      if (!limit.isAllowed && limit.isExceeded) throw rateLimited(limit.ttl)
      const hint = request.body.token_type_hint
      if (hint !== undefined && !tokenTypeHints.has(hint)) {
        throw new OAuthError('unsupported_token_type', 400, `token_type_hint ${hint} is not supported`)
      }
      const now = deps.clock.now()
      const refresh = await findRefreshTokenByHash(deps.db, hashOpaqueToken(request.body.token))
      if (refresh) {
        if (
          refresh.session.clientId === client.id &&
          (await endSession(deps.db, refresh.session.id, 'revoked_by_client', now))
        ) {
          await recordAuditEvent(deps, {
            event: 'token.revoked',
            userId: refresh.session.userId,
            clientId: client.id,
            sessionId: refresh.session.id,
            ip: request.ip,
            details: { type: 'refresh_token' },
          })
        }
        return reply.code(200).send({})
      }
      const claims = await deps.verifier.verifySignedAccessToken(request.body.token)
      if (claims && claims.client_id === client.id) {
        await revokeAccessToken(deps.db, { jti: claims.jti, expiresAt: claims.exp * 1000, revokedAt: now })
        await recordAuditEvent(deps, {
          event: 'token.revoked',
          userId: claims.sid ? claims.sub : null,
          clientId: client.id,
          ip: request.ip,
          details: { type: 'access_token' },
        })
      }
      return reply.code(200).send({})
    },
  )
  refuseMethodsOtherThanPost(app, '/revoke')
}

export default revokeRoute
