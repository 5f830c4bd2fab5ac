import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { loginRateLimit } from '../http/rate-limit.js'
import { SecondStep } from '../mfa/mfa.schema.js'
import { finishSecondStep } from '../mfa/second-step.js'
import { AccessTokenResponse, ErrorResponse } from '../users/user.schema.js'
import { openFirstPartySession } from './first-party-session.js'

/**
 * POST /auth/login/mfa: the second step of a first-party sign-in. The mfa_token from
 * `mfa_required` and a TOTP or recovery code open the session that /auth/login held back; its
 * tokens carry amr ["pwd","otp","mfa"] (RFC 8176).
 */
const loginMfaRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/login/mfa',
    {
      schema: {
        body: SecondStep,
        response: { 200: AccessTokenResponse, 400: ErrorResponse, 401: ErrorResponse, 429: ErrorResponse },
      },
      config: { rateLimit: loginRateLimit },
    },
    async (request, reply) => {
      const done = await finishSecondStep(deps, request.body.mfa_token, request.body.code, { ip: request.ip })
      return openFirstPartySession(deps, request, reply, done.user, { amr: done.amr, authTime: done.authTime })
    },
  )
}

export default loginMfaRoute
