import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { countMailSince, enqueueMail } from '../mail/outbox.store.js'
import { consumeAccountToken } from './account-token.store.js'
import { findUserById, markEmailVerified } from './user.store.js'

/** Per account: this many verification mails per window through resend. */
const RESENDS_PER_ACCOUNT = 3
const RESEND_WINDOW_MS = 15 * 60_000

const overLimit = new Error('over the per-account limit')

const invalidVerificationToken = () =>
  new ApiError(
    'invalid_token',
    400,
    'this verification link is invalid, expired or already used; sign in and ask for a new one',
  )

/** POST /auth/email/verify and the hosted page: a live token (single use) marks its address verified. */
export async function verifyEmail(
  deps: Pick<Deps, 'db' | 'clock' | 'log'>,
  input: { token: string },
  meta: { ip: string | null },
): Promise<void> {
  const now = deps.clock.now()
  const userId = await deps.db.transaction().execute(async (trx) => {
    const token = await consumeAccountToken(trx, 'email_verification_tokens', input.token, now)
    // The address may have changed since the mail went out; only the one it reached is verified.
    if (!token || !(await markEmailVerified(trx, token.userId, token.email, now))) throw invalidVerificationToken()
    return token.userId
  })
  await recordAuditEvent(deps, { event: 'email.verified', userId, ip: meta.ip })
}

/**
 * Queues a new verification mail unless the account had RESENDS_PER_ACCOUNT in the window; false
 * when over that limit.
 */
export async function queueVerificationMail(deps: Pick<Deps, 'db' | 'clock'>, userId: string): Promise<boolean> {
  const now = deps.clock.now()
  return deps.db
    .transaction()
    .execute(async (trx) => {
      // Write first, then count including this row (see requestPasswordReset).
      await enqueueMail(trx, { template: 'verify_email', userId }, now)
      if ((await countMailSince(trx, 'verify_email', { userId }, now - RESEND_WINDOW_MS)) > RESENDS_PER_ACCOUNT)
        throw overLimit
      return true
    })
    .catch((error: unknown) => {
      if (error === overLimit) return false
      throw error
    })
}

/** POST /auth/email/resend: queues a new verification mail for a signed-in user whose address is not verified yet. */
export async function resendVerification(
  deps: Pick<Deps, 'db' | 'clock' | 'log'>,
  userId: string,
  meta: { ip: string | null },
): Promise<void> {
  const user = await findUserById(deps.db, userId)
  if (!user || user.emailVerified) return
  if (!(await queueVerificationMail(deps, userId))) {
    throw new ApiError('rate_limited', 429, 'too many verification emails; retry in a few minutes', {
      'retry-after': String(RESEND_WINDOW_MS / 1000),
    })
  }
  await recordAuditEvent(deps, { event: 'email.verification_sent', userId, ip: meta.ip })
}
