import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { ApiError, InvalidToken } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { requireUser } from '../sessions/bearer-auth.js'
import { endUserAccess } from '../sessions/end-user-access.js'
import { assertAcceptablePassword, assertPasswordWithinLimit, normalizePassword } from '../users/password-policy.js'
import { findUserById, updatePasswordHash } from '../users/user.store.js'
import { ErrorResponse, PasswordChange } from '../users/user.schema.js'

/**
 * POST /auth/password-change: needs the current password (its failures count towards the
 * account's back-off), applies the policy to the new one, ends every other session (ASVS 7.4.3),
 * voids pending reset links and mails the owner a notice.
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
      preHandler: requireUser(deps.verifier.verifyAccessToken, deps.firstPartyAudiences),
    },
    async (request, reply) => {
      const { userId, sessionId } = request.userAuth!
      const user = await findUserById(deps.db, userId)
      if (!user) throw new InvalidToken()
      assertPasswordWithinLimit(request.body.current_password)
      const gate = await deps.loginBackoff.check(user.email)
      if (!gate.allowed)
        throw new ApiError(
          'too_many_attempts',
          429,
          `too many failed attempts; retry after ${gate.retryAfterSeconds} seconds`,
          { 'retry-after': String(gate.retryAfterSeconds) },
        )
      if (!(await deps.passwordHasher.verify(user.passwordHash, normalizePassword(request.body.current_password)))) {
        await deps.loginBackoff.recordFailure(user.email)
        await recordAuditEvent(deps, { event: 'password_change.failed', userId, sessionId, ip: request.ip })
        throw new ApiError('invalid_credentials', 403, 'the current password is incorrect')
      }
      assertAcceptablePassword(request.body.new_password, {
        email: user.email,
        minLength: deps.config.passwordMinLength,
      })
      const hash = await deps.passwordHasher.hash(normalizePassword(request.body.new_password))
      const now = deps.clock.now()
      const revoked = await deps.db.transaction().execute(async (trx) => {
        await updatePasswordHash(trx, userId, hash, now)
        return endUserAccess(trx, userId, 'password_changed', { now, currentSessionId: sessionId })
      })
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
