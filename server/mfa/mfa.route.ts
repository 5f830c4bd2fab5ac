import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import type { Deps } from '../deps.js'
import { InvalidToken } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { requireUser } from '../sessions/bearer-auth.js'
import { findUserById } from '../users/user.store.js'
import { ErrorResponse } from '../users/user.schema.js'
import { assertRecentSignin } from './recent-signin.js'
import { MfaStatusView, RecentSigninProof, RecoveryCodes, TotpCode, TotpSetup } from './mfa.schema.js'
import { confirmTotp, mfaStatusOf, regenerateRecoveryCodes, removeTotp, setUpTotp } from './totp-enrolment.js'

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 409: ErrorResponse, 429: ErrorResponse }

/**
 * The signed-in user's second factors under /auth/mfa (API.md "Second factors"): status, TOTP
 * setup and confirmation, recovery codes, removal. Changing them needs a recent sign-in or the
 * password (mfa/recent-signin.ts).
 */
const mfaRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.addHook('preHandler', requireUser(deps.verifier.verifyAccessToken, deps.firstPartyAudiences))
  // The proof is optional: a recent sign-in needs no body at all.
  app.addHook('preValidation', async (request) => {
    request.body ??= {}
  })

  const signedInUser = async (request: FastifyRequest) => {
    const user = await findUserById(deps.db, request.userAuth!.userId)
    if (!user || user.disabled) throw new InvalidToken()
    return user
  }
  const withRecentSignin = async (request: FastifyRequest, password: string | undefined) => {
    const user = await signedInUser(request)
    await assertRecentSignin(deps, user, { authTime: request.userAuth!.claims.auth_time, password, ip: request.ip })
    return user
  }
  const metaOf = (request: FastifyRequest) => ({ ip: request.ip, sessionId: request.userAuth!.sessionId })

  app.get('/mfa', { schema: { response: { 200: MfaStatusView, 401: ErrorResponse } } }, async (request) => {
    const status = await mfaStatusOf(deps, (await signedInUser(request)).id)
    return {
      totp: status.totp,
      totp_added_at: status.totpAddedAt === null ? null : new Date(status.totpAddedAt).toISOString(),
      recovery_codes_left: status.recoveryCodesLeft,
    }
  })

  app.post(
    '/mfa/totp/setup',
    { schema: { body: RecentSigninProof, response: { 200: TotpSetup, ...errors } } },
    async (request, reply) => {
      const user = await withRecentSignin(request, request.body.password)
      const { secret, otpauthUri } = await setUpTotp(deps, user)
      reply.header('cache-control', 'no-store')
      return { secret, otpauth_uri: otpauthUri }
    },
  )

  app.post(
    '/mfa/totp/confirm',
    { schema: { body: TotpCode, response: { 200: RecoveryCodes, ...errors } } },
    async (request, reply) => {
      const user = await signedInUser(request)
      const codes = await confirmTotp(deps, user, request.body.code, metaOf(request))
      reply.header('cache-control', 'no-store')
      return { recovery_codes: codes }
    },
  )

  app.post(
    '/mfa/recovery-codes',
    { schema: { body: RecentSigninProof, response: { 200: RecoveryCodes, ...errors } } },
    async (request, reply) => {
      const user = await withRecentSignin(request, request.body.password)
      const codes = await regenerateRecoveryCodes(deps, user, metaOf(request))
      reply.header('cache-control', 'no-store')
      return { recovery_codes: codes }
    },
  )

  app.delete(
    '/mfa/totp',
    { schema: { body: RecentSigninProof, response: { 204: { type: 'null' }, ...errors } } },
    async (request, reply) => {
      const user = await withRecentSignin(request, request.body.password)
      const now = deps.clock.now()
      const removed = await deps.db.transaction().execute((trx) => removeTotp(trx, user.id, now, 'user'))
      if (removed) await recordAuditEvent(deps, { event: 'mfa.totp_removed', userId: user.id, ...metaOf(request) })
      return reply.code(204).send(null)
    },
  )
}

export default mfaRoute
