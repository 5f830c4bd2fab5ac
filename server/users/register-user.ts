import { randomBytes } from 'node:crypto'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { canonicalEmail, isPlausibleEmail } from './email.js'
import { assertAcceptablePassword, normalizePassword } from './password-policy.js'
import { enqueueMail } from '../mail/outbox.store.js'
import { insertUserIfAbsent } from './user.store.js'

export interface RegistrationInput {
  email: string
  password: string
  name?: string | undefined
}

/**
 * Creates an account, doing the same work whether the address was new or taken (ASVS 6.3.8):
 * callers answer identically either way. A taken address creates and changes nothing. Shared by
 * the JSON API and the hosted registration page; both queue the mail that follows.
 */
export async function registerUser(
  deps: Pick<Deps, 'db' | 'clock' | 'config' | 'log' | 'passwordHasher'>,
  input: RegistrationInput,
  meta: { ip: string | null },
): Promise<void> {
  const email = canonicalEmail(input.email)
  if (!isPlausibleEmail(email)) throw new ApiError('invalid_email', 400, 'this is not a valid email address')
  assertAcceptablePassword(input.password, { email, minLength: deps.config.passwordMinLength })
  // Hashing happens for taken addresses too, so both answers cost the same.
  const passwordHash = await deps.passwordHasher.hash(normalizePassword(input.password))
  const now = deps.clock.now()
  const id = randomBytes(16).toString('base64url')
  // The mail is queued in the same transaction: a new account gets its verification link, the
  // owner of a taken address a notice. One insert each way, so both cost the same.
  const created = await deps.db.transaction().execute(async (trx) => {
    const inserted = await insertUserIfAbsent(trx, {
      id,
      email,
      name: input.name?.trim() || null,
      password_hash: passwordHash,
      email_verified: 0,
      disabled: 0,
      tokens_valid_after: 0,
      created_at: now,
      updated_at: now,
    })
    await enqueueMail(
      trx,
      inserted ? { template: 'verify_email', userId: id } : { template: 'registration_attempt', email },
      now,
    )
    return inserted
  })
  await recordAuditEvent(
    deps,
    created ? { event: 'user.registered', userId: id, ip: meta.ip } : { event: 'user.register_existing', ip: meta.ip },
  )
}
