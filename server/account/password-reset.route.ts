import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { loginRateLimit, passwordResetRateLimit } from '../http/rate-limit.js'
import { confirmPasswordReset, requestPasswordReset } from './password-reset.js'
import { Accepted, ErrorResponse, PasswordResetConfirmation, PasswordResetRequest } from '../users/user.schema.js'

export const resetAccepted = {
  status: 'accepted',
  message: 'If an account uses this address, a password reset link is on its way.',
} as const

/**
 * POST /auth/password-reset: 202 with the same body and the same work for every address (the mail
 * is decided by the outbox worker). POST /auth/password-reset/confirm: 204, every session ended,
 * not signed in.
 */
const passwordResetRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/password-reset',
    {
      schema: { body: PasswordResetRequest, response: { 202: Accepted, 400: ErrorResponse, 429: ErrorResponse } },
      config: { rateLimit: passwordResetRateLimit },
    },
    async (request, reply) => {
      await requestPasswordReset(deps, request.body, { ip: request.ip })
      return reply.code(202).send(resetAccepted)
    },
  )

  app.post(
    '/password-reset/confirm',
    {
      schema: {
        body: PasswordResetConfirmation,
        response: { 204: { type: 'null' }, 400: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse },
      },
      config: { rateLimit: loginRateLimit },
      onRequest: async () => deps.passwordHasher.assertCapacity(),
    },
    async (request, reply) => {
      await confirmPasswordReset(deps, request.body, { ip: request.ip })
      return reply.code(204).send(null)
    },
  )
}

export default passwordResetRoute
