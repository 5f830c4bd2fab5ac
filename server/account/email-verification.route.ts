import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { requireUser } from '../sessions/bearer-auth.js'
import { loginRateLimit, signupRateLimit } from '../http/rate-limit.js'
import { resendVerification, verifyEmail } from '../users/email-verification.js'
import { Accepted, EmailVerification, ErrorResponse } from '../users/user.schema.js'

const resendAccepted = {
  status: 'accepted',
  message: 'If your address is not verified yet, a new verification link is on its way.',
} as const

/** POST /auth/email/verify {token} → 204; POST /auth/email/resend (Bearer) → 202. */
const emailVerificationRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/email/verify',
    {
      schema: { body: EmailVerification, response: { 204: { type: 'null' }, 400: ErrorResponse, 429: ErrorResponse } },
      config: { rateLimit: loginRateLimit },
    },
    async (request, reply) => {
      await verifyEmail(deps, request.body, { ip: request.ip })
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/email/resend',
    {
      schema: { response: { 202: Accepted, 401: ErrorResponse, 429: ErrorResponse } },
      config: { rateLimit: signupRateLimit },
      preHandler: requireUser(deps.verifier.verifyAccessToken, deps.firstPartyAudiences),
    },
    async (request, reply) => {
      await resendVerification(deps, request.userAuth!.userId, { ip: request.ip })
      return reply.code(202).send(resendAccepted)
    },
  )
}

export default emailVerificationRoute
