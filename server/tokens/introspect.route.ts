import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { refuseMethodsOtherThanPost } from '../http/method-not-allowed.js'
import { InvalidClient } from '../errors.js'
import type { AuthenticateClient } from '../http/client-auth-budget.js'
import { assertFormBody } from '../http/form-body.js'
import { hashOpaqueToken } from '../opaque-token.js'
import { findRefreshTokenByHash } from '../sessions/refresh-token.store.js'
import type { Client } from '../clients/client.js'
import { ErrorResponse, IntrospectionResponse, TokenHandleRequest } from './token.schema.js'

const inactive = { active: false } as const

/** Longer than any token Latchkey issues: such a token cannot be active (RFC 7662 §2.2). */
const MAX_TOKEN_LENGTH = 8192

/** Does the token name one of the caller's audiences (RFC 7662 §4: the caller is a protected resource)? */
function servesAudience(client: Client, aud: string | string[] | undefined): boolean {
  const audiences = typeof aud === 'string' ? [aud] : (aud ?? [])
  return audiences.some((a) => client.audiences.includes(a))
}

/**
 * POST /oauth/introspect (RFC 7662). Client authentication required, by a client registered for
 * introspection; access tokens are answered only when their audience is one of the caller's. Access tokens are checked
 * for signature and revocation (their session, their user's cut-off, their jti); refresh tokens
 * only for the client they were issued to. Anything else is exactly {"active": false}.
 */
const introspectRoute: FastifyPluginAsyncTypebox<{ deps: Deps; authenticate: AuthenticateClient }> = async (
  app,
  { deps, authenticate },
) => {
  app.post(
    '/introspect',
    {
      schema: {
        body: TokenHandleRequest,
        response: { 200: IntrospectionResponse, 400: ErrorResponse, 401: ErrorResponse, 429: ErrorResponse },
      },
      preValidation: assertFormBody,
    },
    async (request) => {
      const client = await authenticate(request, request.body)
      // RFC 7662 §2.1: the caller must be authorised; a public client proves nothing about itself.
      if (client.type !== 'confidential') throw new InvalidClient('introspection requires a confidential client')
      // Only clients registered for introspection may learn anything about a token.
      if (!client.introspection || request.body.token.length > MAX_TOKEN_LENGTH) return inactive
      const now = deps.clock.now()
      const claims = await deps.verifier.verifyAccessToken(request.body.token)
      if (claims) {
        // A token for someone else's audience is not the caller's business: it learns nothing.
        if (!servesAudience(client, claims.aud)) return inactive
        return {
          active: true,
          token_type: claims.cnf?.jkt === undefined ? 'Bearer' : 'DPoP',
          client_id: claims.client_id,
          sub: claims.sub,
          exp: claims.exp,
          iat: claims.iat,
          iss: claims.iss,
          jti: claims.jti,
          ...(claims.aud !== undefined ? { aud: claims.aud } : {}),
          ...(claims.scope !== undefined ? { scope: claims.scope } : {}),
          ...(claims.sid !== undefined ? { sid: claims.sid } : {}),
          ...(claims.cnf?.jkt !== undefined ? { cnf: { jkt: claims.cnf.jkt } } : {}),
        }
      }
      const refresh = await findRefreshTokenByHash(deps.db, hashOpaqueToken(request.body.token))
      if (
        !refresh ||
        refresh.session.clientId !== client.id ||
        refresh.session.revokedAt !== null ||
        refresh.token.used_at !== null ||
        Math.min(refresh.token.idle_expires_at, refresh.session.expiresAt) <= now
      ) {
        return inactive
      }
      return {
        active: true,
        token_type: 'refresh_token',
        client_id: refresh.session.clientId,
        sub: refresh.session.userId,
        exp: Math.floor(Math.min(refresh.token.idle_expires_at, refresh.session.expiresAt) / 1000),
        iat: Math.floor(refresh.token.created_at / 1000),
        iss: deps.config.issuer,
        sid: refresh.session.id,
        ...(refresh.session.scopes.length > 0 ? { scope: refresh.session.scopes.join(' ') } : {}),
      }
    },
  )
  refuseMethodsOtherThanPost(app, '/introspect')
}

export default introspectRoute
