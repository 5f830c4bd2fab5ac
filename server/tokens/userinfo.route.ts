import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { InvalidToken } from '../errors.js'
import { verifyResourceAccessToken } from './dpop-resource.js'
import { findUserById } from '../users/user.store.js'
import { releasedClaims } from '../users/user-claims.js'
import { ErrorResponse, UserInfo } from '../users/user.schema.js'

/** GET /oauth/userinfo (OpenID Connect Core §5.3): claims of the user behind any live user access token, as far as its scopes release them. */
const userinfoRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.get('/userinfo', { schema: { response: { 200: UserInfo, 401: ErrorResponse } } }, async (request) => {
    if (request.headers.authorization === undefined) throw new InvalidToken('a bearer access token is required')
    const claims = await verifyResourceAccessToken(deps, request, '/oauth/userinfo')
    if (!claims || claims.sid === undefined) throw new InvalidToken()
    const user = await findUserById(deps.db, claims.sub)
    if (!user) throw new InvalidToken()
    return {
      sub: user.id,
      ...releasedClaims(user, { clientId: claims.client_id, scopes: claims.scope?.split(' ') ?? [] }),
    }
  })
}

export default userinfoRoute
