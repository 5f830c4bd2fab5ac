import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { AuthenticationResponseJSON } from '@simplewebauthn/server'
import type { Deps } from '../deps.js'
import { loginRateLimit } from '../http/rate-limit.js'
import { confirmTotpAtSignin, setUpTotpAtSignin } from '../mfa/enrol-at-signin.js'
import { SecondStep, TotpSetup } from '../mfa/mfa.schema.js'
import { createSecondStepPasskeyOptions, finishSecondStep, finishSecondStepWithPasskey } from '../mfa/second-step.js'
import { AuthenticationResponse, RequestOptions } from '../passkeys/passkeys.schema.js'
import { AccessTokenResponse, ErrorResponse } from '../users/user.schema.js'
import { openFirstPartySession } from './first-party-session.js'

const MfaToken = Type.String({ minLength: 1, maxLength: 256 })
const errors = { 400: ErrorResponse, 401: ErrorResponse, 409: ErrorResponse, 429: ErrorResponse }

/**
 * The second step of a first-party sign-in, after `mfa_required` (or `mfa_enrolment_required`)
 * from POST /auth/login:
 * - POST /auth/login/mfa `{mfa_token, code}`: a TOTP or recovery code; amr ["pwd","otp","mfa"].
 * - POST /auth/login/mfa/passkey/options `{mfa_token}` then /auth/login/mfa/passkey
 *   `{mfa_token, response}`: one of the user's passkeys; amr ["pwd","hwk"|"swk","user","mfa"].
 * - POST /auth/login/mfa/totp/setup `{mfa_token}` then /auth/login/mfa/totp/confirm
 *   `{mfa_token, code}` (LATCHKEY_MFA=required, no factor yet): the session and the recovery codes.
 * Each opens the session that /auth/login held back (RFC 8176 amr).
 */
const loginMfaRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const options = { config: { rateLimit: loginRateLimit } }

  app.post(
    '/login/mfa',
    { ...options, schema: { body: SecondStep, response: { 200: AccessTokenResponse, ...errors } } },
    async (request, reply) => {
      const done = await finishSecondStep(deps, request.body.mfa_token, request.body.code, { ip: request.ip })
      return openFirstPartySession(deps, request, reply, done.user, { amr: done.amr, authTime: done.authTime })
    },
  )

  app.post(
    '/login/mfa/passkey/options',
    {
      ...options,
      schema: { body: Type.Object({ mfa_token: MfaToken }), response: { 200: RequestOptions, ...errors } },
    },
    async (request) => createSecondStepPasskeyOptions(deps, request.body.mfa_token),
  )

  app.post(
    '/login/mfa/passkey',
    {
      ...options,
      schema: {
        body: Type.Object({ mfa_token: MfaToken, response: AuthenticationResponse }),
        response: { 200: AccessTokenResponse, ...errors },
      },
    },
    async (request, reply) => {
      const done = await finishSecondStepWithPasskey(
        deps,
        request.body.mfa_token,
        request.body.response as AuthenticationResponseJSON,
        { ip: request.ip },
      )
      return openFirstPartySession(deps, request, reply, done.user, { amr: done.amr, authTime: done.authTime })
    },
  )

  app.post(
    '/login/mfa/totp/setup',
    { ...options, schema: { body: Type.Object({ mfa_token: MfaToken }), response: { 200: TotpSetup, ...errors } } },
    async (request, reply) => {
      const { secret, otpauthUri } = await setUpTotpAtSignin(deps, request.body.mfa_token)
      reply.header('cache-control', 'no-store')
      return { secret, otpauth_uri: otpauthUri }
    },
  )

  app.post(
    '/login/mfa/totp/confirm',
    {
      ...options,
      schema: {
        body: SecondStep,
        response: {
          200: Type.Composite([
            AccessTokenResponse,
            Type.Object({ recovery_codes: Type.Array(Type.String(), { minItems: 10, maxItems: 10 }) }),
          ]),
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const { signin, recoveryCodes } = await confirmTotpAtSignin(deps, request.body.mfa_token, request.body.code, {
        ip: request.ip,
      })
      const session = await openFirstPartySession(deps, request, reply, signin.user, {
        amr: signin.amr,
        authTime: signin.authTime,
      })
      return { ...session, recovery_codes: recoveryCodes }
    },
  )
}

export default loginMfaRoute
