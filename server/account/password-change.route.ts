import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { ApiError, InvalidToken } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { passwordChangeRateLimit, passwordChangeUserRateLimit } from '../http/rate-limit.js'
import { requireUser } from '../sessions/bearer-auth.js'
import { endUserAccess } from '../sessions/end-user-access.js'
import { assertAcceptablePassword, assertPasswordWithinLimit, normalizePassword } from '../users/password-policy.js'
import { assertSigninStillValid, SigninSuperseded } from '../users/signin-proof.js'
import { findUserById, updatePasswordHash } from '../users/user.store.js'
import { ErrorResponse, PasswordChange } from '../users/user.schema.js'

/**
 * POST /auth/password-change: needs the current password (its failures count towards the
 * account's back-off), applies the policy to the new one, ends every other session (ASVS 7.4.3),
 * voids pending reset links and mails the owner a notice.
 *
 * Finding M2: each call costs two argon2 runs, so it is bounded like a login and more: per IP and
 * per user, the hashing queue's capacity check before the body is read, the new password's policy
 * before any hashing, and the account's fair share of the queue.
 */
const passwordChangeRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/password-change',
    {
      schema: {
        body: PasswordChange,
        response: {
          204: { type: 'null' },
          400: ErrorResponse,
          401: ErrorResponse,
          403: ErrorResponse,
          429: ErrorResponse,
          503: ErrorResponse,
        },
      },
      config: { rateLimit: passwordChangeRateLimit },
      onRequest: async () => deps.passwordHasher.assertCapacity(),
      preHandler: [
        requireUser(deps.verifier.verifyAccessToken, deps.firstPartyAudiences),
        app.rateLimit({
          ...passwordChangeUserRateLimit,
          keyGenerator: (request) => `password-change:${request.userAuth?.userId ?? request.ip}`,
        }),
      ],
    },
    async (request, reply) => {
      const { userId, sessionId } = request.userAuth!
      const user = await findUserById(deps.db, userId)
      if (!user) throw new InvalidToken()
      assertPasswordWithinLimit(request.body.current_password)
      // The policy is public and costs nothing: a new password it refuses never costs a hash.
      assertAcceptablePassword(request.body.new_password, {
        email: user.email,
        minLength: deps.config.passwordMinLength,
      })
      // Counted before the guess, forgiven after (finding M3).
      const gate = await deps.loginBackoff.reserve(user.email)
      if (!gate.allowed)
        throw new ApiError(
          'too_many_attempts',
          429,
          `too many failed attempts; retry after ${gate.retryAfterSeconds} seconds`,
          { 'retry-after': String(gate.retryAfterSeconds) },
        )
      const startedAt = deps.clock.now()
      const share = { owner: user.email }
      const current = normalizePassword(request.body.current_password)
      if (!(await deps.passwordHasher.verify(user.passwordHash, current, share))) {
        await recordAuditEvent(deps, { event: 'password_change.failed', userId, sessionId, ip: request.ip })
        throw new ApiError('invalid_credentials', 403, 'the current password is incorrect')
      }
      const hash = await deps.passwordHasher.hash(normalizePassword(request.body.new_password), share)
      const now = deps.clock.now()
      let revoked
      try {
        revoked = await deps.db.transaction().execute(async (trx) => {
          // The verified password must still be the user's (finding H1): a change or reset that
          // committed meanwhile is never overwritten by a password checked against the old one.
          await assertSigninStillValid(trx, deps.config, {
            userId,
            authTime: startedAt,
            password: { verifiedHash: user.passwordHash, credentialsChangedAt: user.credentialsChangedAt },
          })
          await updatePasswordHash(trx, userId, hash, now)
          return endUserAccess(trx, userId, 'password_changed', { now, currentSessionId: sessionId })
        })
      } catch (error) {
        if (error instanceof SigninSuperseded)
          throw new ApiError('invalid_credentials', 403, 'the current password is incorrect')
        throw error
      }
      await deps.loginBackoff.recordSuccess(user.email)
      await recordAuditEvent(deps, {
        event: 'password.changed',
        userId,
        sessionId,
        ip: request.ip,
        details: { sessions_revoked: revoked.length },
      })
      return reply.code(204).send(null)
    },
  )
}

export default passwordChangeRoute
