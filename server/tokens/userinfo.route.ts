import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import type { Deps } from '../deps.js'
import { InsufficientScope, InvalidRequest, InvalidToken } from '../errors.js'
import { assertFormBody } from '../http/form-body.js'
import { readBearerToken } from '../sessions/bearer-auth.js'
import { findUserById } from '../users/user.store.js'
import { releasedClaims } from '../users/user-claims.js'
import { ErrorResponse, UserInfo } from '../users/user.schema.js'

/** RFC 6750 §2.2: the token may come in a form body instead of the header, never in both (§2). */
const UserInfoForm = Type.Object(
  { access_token: Type.Optional(Type.String({ minLength: 1, maxLength: 8192 })) },
  { additionalProperties: true },
)

const responses = { 200: UserInfo, 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse }

/**
 * GET and POST /oauth/userinfo (OpenID Connect Core §5.3): claims of the user behind a live user
 * access token granted the `openid` scope (§5.3.1), as far as its scopes release them.
 */
const userinfoRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const answer = async (token: string | null) => {
    if (token === null) throw new InvalidToken('a bearer access token is required')
    const claims = await deps.verifier.verifyAccessToken(token)
    if (!claims || claims.sid === undefined) throw new InvalidToken()
    const scopes = claims.scope?.split(' ') ?? []
    // OIDC Core §5.3.1 with RFC 6750 §3.1: the UserInfo Endpoint is for OpenID Connect grants only.
    if (!scopes.includes('openid')) throw new InsufficientScope('openid')
    const user = await findUserById(deps.db, claims.sub)
    if (!user) throw new InvalidToken()
    return { sub: user.id, ...releasedClaims(user, { clientId: claims.client_id, scopes }) }
  }

  app.get('/userinfo', { schema: { response: responses } }, async (request) => answer(readBearerToken(request)))

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
      const inHeader = request.headers.authorization !== undefined
      const inBody = request.body.access_token
      if (inHeader && inBody !== undefined)
        throw new InvalidRequest('the access token must be sent in one way only (RFC 6750 §2)')
      return answer(inBody ?? readBearerToken(request))
    },
  )
}

export default userinfoRoute
