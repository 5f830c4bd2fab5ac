import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { loginRateLimit } from '../http/rate-limit.js'
import { AccessTokenResponse, Credentials, ErrorResponse, MfaRequiredResponse } from '../users/user.schema.js'
import { assertLoginCapacity, authenticatePassword } from '../users/authenticate-password.js'
import { MfaRequired } from '../errors.js'
import { secondFactorsOf, startSecondStep } from '../mfa/second-step.js'
import { openFirstPartySession } from './first-party-session.js'

/**
 * POST /auth/login: password login for the first-party app; success opens a session whose
 * refresh token lives in the HttpOnly session cookie. A user with a second factor gets
 * `mfa_required` and an mfa_token instead, for POST /auth/login/mfa.
 */
const loginRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/login',
    {
      schema: {
        body: Credentials,
        response: {
          200: AccessTokenResponse,
          400: ErrorResponse,
          401: MfaRequiredResponse,
          403: ErrorResponse,
          429: ErrorResponse,
          503: ErrorResponse,
        },
      },
      config: { rateLimit: loginRateLimit },
      // A saturated hashing queue answers before the body is even read: a flood then costs the
      // event loop as little as possible, leaving it to tokens, JWKS and health checks.
      onRequest: async () => assertLoginCapacity(deps),
    },
    async (request, reply) => {
      const hasSecondFactor = async (user: { id: string }) => (await secondFactorsOf(deps, user.id)).length > 0
      const { user, proof } = await authenticatePassword(deps, request.body, { ip: request.ip, hasSecondFactor })
      const first = { amr: ['pwd'], authTime: proof.authTime, password: proof.password }
      if (await hasSecondFactor(user)) {
        const mfaToken = await startSecondStep(deps, user, first)
        await recordAuditEvent(deps, { event: 'login.mfa_required', userId: user.id, ip: request.ip })
        throw new MfaRequired(mfaToken)
      }
      // LATCHKEY_MFA=required: no session until a factor is set up; the token allows only that.
      if (deps.config.mfa === 'required') {
        const mfaToken = await startSecondStep(deps, user, first)
        await recordAuditEvent(deps, { event: 'login.mfa_enrolment_required', userId: user.id, ip: request.ip })
        throw new MfaRequired(mfaToken, 'enrolment')
      }
      return openFirstPartySession(deps, request, reply, user, first)
    },
  )
}

export default loginRoute
