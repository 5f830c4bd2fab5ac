import { randomBytes } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { signupRateLimit } from '../http/rate-limit.js'
import { canonicalEmail, isPlausibleEmail } from './email.js'
import { assertAcceptablePassword, normalizePassword } from './password-policy.js'
import { insertUserIfAbsent } from './user.store.js'
import { Accepted, ErrorResponse, Registration } from './user.schema.js'

const accepted = { status: 'accepted', message: 'If this address can be registered, a verification email is on its way.' } as const

/**
 * POST /auth/register: 202 with the same body, status and work whether the address was new or
 * taken (ASVS 6.3.8); a taken address creates and changes nothing.
 */
const registerRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/register',
    { schema: { body: Registration, response: { 202: Accepted, 400: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse } }, config: { rateLimit: signupRateLimit } },
    async (request, reply) => {
      const email = canonicalEmail(request.body.email)
      if (!isPlausibleEmail(email)) throw new ApiError('invalid_email', 400, 'this is not a valid email address')
      assertAcceptablePassword(request.body.password, { email, minLength: deps.config.passwordMinLength })
      // Hashing happens for taken addresses too, so both answers cost the same.
      const passwordHash = await deps.passwordHasher.hash(normalizePassword(request.body.password))
      const now = deps.clock.now()
      const id = randomBytes(16).toString('base64url')
      const created = await insertUserIfAbsent(deps.db, {
        id,
        email,
        name: request.body.name?.trim() || null,
        password_hash: passwordHash,
        email_verified: 0,
        disabled: 0,
        tokens_valid_after: 0,
        created_at: now,
        updated_at: now,
      })
      await recordAuditEvent(deps, created ? { event: 'user.registered', userId: id, ip: request.ip } : { event: 'user.register_existing', ip: request.ip })
      return reply.code(202).send(accepted)
    },
  )
}

export default registerRoute
