import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { requireUser } from '../sessions/bearer-auth.js'
import { findUserById } from '../users/user.store.js'
import { ErrorResponse, UserView } from '../users/user.schema.js'
import { InvalidToken } from '../errors.js'

/** GET /auth/me: the signed-in user. */
const meRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.get(
    '/me',
    {
      schema: { response: { 200: UserView, 401: ErrorResponse } },
      preHandler: requireUser(deps.verifier.verifyAccessToken, deps.firstPartyAudiences),
    },
    async (request) => {
      const user = await findUserById(deps.db, request.userAuth!.userId)
      if (!user) throw new InvalidToken()
      return {
        id: user.id,
        email: user.email,
        name: user.name,
        email_verified: user.emailVerified,
        created_at: new Date(user.createdAt).toISOString(),
      }
    },
  )
}

export default meRoute
