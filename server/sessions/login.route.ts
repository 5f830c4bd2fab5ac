import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { loginRateLimit } from '../http/rate-limit.js'
import { canonicalEmail } from '../users/email.js'
import { assertPasswordWithinLimit, normalizePassword } from '../users/password-policy.js'
import { findUserByEmail, updatePasswordHash } from '../users/user.store.js'
import { AccessTokenResponse, Credentials, ErrorResponse } from '../users/user.schema.js'
import { FIRST_PARTY_CLIENT_ID } from './session.js'
import { setSessionCookie } from './session-cookie.js'
import { startSession } from './start-session.js'
import { issueUserAccessToken } from './user-access-token.js'

/** Wrong password, unknown email and disabled account: one answer (ASVS 6.3.8). */
const invalidCredentials = () => new ApiError('invalid_credentials', 401, 'the email or password is incorrect')

/**
 * POST /auth/login: password login for the first-party app. The back-off counter is on the
 * canonical account (known or not), an unknown account costs a dummy argon2 verify, and success
 * opens a session whose refresh token lives in the HttpOnly session cookie.
 */
const loginRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/login',
    {
      schema: { body: Credentials, response: { 200: AccessTokenResponse, 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse } },
      config: { rateLimit: loginRateLimit },
      // A saturated hashing queue answers before the body is even read: a flood then costs the
      // event loop as little as possible, leaving it to tokens, JWKS and health checks.
      onRequest: async () => deps.passwordHasher.assertCapacity(),
    },
    async (request, reply) => {
      assertPasswordWithinLimit(request.body.password)
      const email = canonicalEmail(request.body.email)
      const gate = await deps.loginBackoff.check(email)
      if (!gate.allowed) {
        await recordAuditEvent(deps, { event: 'login.backoff', ip: request.ip, details: { locked: gate.locked } })
        throw new ApiError('too_many_attempts', 429, `too many failed attempts; retry after ${gate.retryAfterSeconds} seconds`, { 'retry-after': String(gate.retryAfterSeconds) })
      }
      const password = normalizePassword(request.body.password)
      const user = await findUserByEmail(deps.db, email)
      const valid = user ? await deps.passwordHasher.verify(user.passwordHash, password) : await deps.passwordHasher.verifyDummy(password)
      if (!user || !valid || user.disabled) {
        await deps.loginBackoff.recordFailure(email)
        await recordAuditEvent(deps, { event: 'login.failed', userId: user?.id ?? null, ip: request.ip, details: { reason: !user ? 'unknown_account' : !valid ? 'wrong_password' : 'disabled' } })
        throw invalidCredentials()
      }
      await deps.loginBackoff.recordSuccess(email)
      if (deps.config.requireVerifiedEmail && !user.emailVerified) {
        throw new ApiError('email_not_verified', 403, 'verify your email address before signing in')
      }
      if (deps.passwordHasher.needsRehash(user.passwordHash)) {
        await updatePasswordHash(deps.db, user.id, await deps.passwordHasher.hash(password), deps.clock.now())
      }
      const { session, refreshToken } = await startSession(deps, user, {
        clientId: FIRST_PARTY_CLIENT_ID,
        scopes: [],
        audience: deps.config.defaultAudience,
        amr: ['pwd'],
        ip: request.ip,
        userAgent: request.headers['user-agent'] ?? null,
      })
      const access = await issueUserAccessToken(deps, user, session)
      await recordAuditEvent(deps, { event: 'login.succeeded', userId: user.id, clientId: FIRST_PARTY_CLIENT_ID, sessionId: session.id, ip: request.ip })
      setSessionCookie(reply, refreshToken, session.expiresAt, deps.clock.now())
      return { access_token: access.token, token_type: 'Bearer' as const, expires_in: access.expiresIn }
    },
  )
}

export default loginRoute
