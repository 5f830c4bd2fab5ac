import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { signupRateLimit } from '../http/rate-limit.js'
import { registerUser } from '../users/register-user.js'
import { Accepted, ErrorResponse, Registration } from '../users/user.schema.js'

const accepted = {
  status: 'accepted',
  message: 'If this address can be registered, a verification email is on its way.',
} as const

/** POST /auth/register: 202 with the same body, status and work whether the address was new or taken. */
const registerRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/register',
    {
      schema: {
        body: Registration,
        response: { 202: Accepted, 400: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse },
      },
      config: { rateLimit: signupRateLimit },
    },
    async (request, reply) => {
      await registerUser(deps, request.body, { ip: request.ip })
      return reply.code(202).send(accepted)
    },
  )
}

export default registerRoute
