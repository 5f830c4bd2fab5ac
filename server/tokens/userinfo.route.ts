import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import type { Deps } from '../deps.js'
import { InsufficientScope, InvalidRequest, InvalidToken } from '../errors.js'
import { assertFormBody } from '../http/form-body.js'
import type { AccessTokenClaims } from '../sessions/verify-access-token.js'
import { findUserById } from '../users/user.store.js'
import { releasedClaims } from '../users/user-claims.js'
import { ErrorResponse, UserInfo } from '../users/user.schema.js'
import { DpopResourceError } from './dpop-errors.js'
import { invalidTokenFor, verifyResourceAccessToken } from './dpop-resource.js'

/** RFC 6750 §2.2: the token may come in a form body instead of the header, never in both (§2). */
const UserInfoForm = Type.Object(
  { access_token: Type.Optional(Type.String({ minLength: 1, maxLength: 8192 })) },
  { additionalProperties: true },
)

const responses = { 200: UserInfo, 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse }

/**
 * GET and POST /oauth/userinfo (OpenID Connect Core §5.3): claims of the user behind a live user
 * access token granted the `openid` scope (§5.3.1), as far as its scopes release them. The token
 * comes in the Authorization header (Bearer, or DPoP with a proof: RFC 9449 §7) or, on POST, as a
 * form parameter (Bearer only).
 */
const userinfoRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const answer = async (request: FastifyRequest, claims: AccessTokenClaims | null) => {
    if (!claims || claims.sid === undefined) throw invalidTokenFor(request)
    const scopes = claims.scope?.split(' ') ?? []
    // OIDC Core §5.3.1 with RFC 6750 §3.1: the UserInfo Endpoint is for OpenID Connect grants only.
    if (!scopes.includes('openid')) throw new InsufficientScope('openid')
    const user = await findUserById(deps.db, claims.sub)
    if (!user) throw invalidTokenFor(request)
    return { sub: user.id, ...releasedClaims(user, { clientId: claims.client_id, scopes }) }
  }

  const fromHeader = (request: FastifyRequest) => {
    if (request.headers.authorization === undefined) throw new InvalidToken('a bearer access token is required')
    return verifyResourceAccessToken(deps, request, '/oauth/userinfo')
  }

  /** A token in the form body is a bearer token: a DPoP-bound one needs its proof, so the header. */
  const fromForm = async (token: string) => {
    const claims = await deps.verifier.verifyAccessToken(token)
    if (claims?.cnf?.jkt !== undefined)
      throw new DpopResourceError('invalid_token', 'this access token is bound to a DPoP key: use the DPoP scheme')
    return claims
  }

  app.get('/userinfo', { schema: { response: responses } }, async (request) =>
    answer(request, await fromHeader(request)),
  )

  app.post(
    '/userinfo',
    {
      schema: { body: UserInfoForm, response: responses },
      // A body, if any, is a form (RFC 6750 §2.2); a bare POST carries the token in the header.
      preValidation: async (request: FastifyRequest) => {
        if (request.headers['content-type'] !== undefined) await assertFormBody(request)
        else request.body = {}
      },
    },
    async (request) => {
      const inBody = request.body.access_token
      if (request.headers.authorization !== undefined && inBody !== undefined)
        throw new InvalidRequest('the access token must be sent in one way only (RFC 6750 §2)')
      return answer(request, await (inBody !== undefined ? fromForm(inBody) : fromHeader(request)))
    },
  )
}

export default userinfoRoute
