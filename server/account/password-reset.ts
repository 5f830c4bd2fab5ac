import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { countMailSince, enqueueMail } from '../mail/outbox.store.js'
import { endUserAccess } from '../sessions/end-user-access.js'
import { consumeAccountToken, deleteAccountTokensOfEmail, findLiveAccountToken } from '../users/account-token.store.js'
import { canonicalEmail, isPlausibleEmail } from '../users/email.js'
import { assertAcceptablePassword, assertPasswordWithinLimit, normalizePassword } from '../users/password-policy.js'
import { findUserById, markEmailVerified, updatePasswordHash } from '../users/user.store.js'

/** Per account (the canonical address, known or not): this many reset mails per window; more are dropped silently. */
const RESET_MAILS_PER_ACCOUNT = 3
const RESET_ACCOUNT_WINDOW_MS = 15 * 60_000

const overLimit = new Error('over the per-account limit')

const invalidResetToken = () =>
  new ApiError('invalid_token', 400, 'this password reset link is invalid, expired or already used; ask for a new one')

/**
 * POST /auth/password-reset and the hosted form: records the request in the outbox and nothing
 * else. Whether the address has an account is decided later by the mail worker, so a known and an
 * unknown address run the very same statements here and answer alike (OWASP Forgot Password,
 * ASVS 6.3.8). Older links of the account stop working at once.
 */
export async function requestPasswordReset(
  deps: Pick<Deps, 'db' | 'clock' | 'log'>,
  input: { email: string },
  meta: { ip: string | null },
): Promise<void> {
  const email = canonicalEmail(input.email)
  if (!isPlausibleEmail(email)) return
  const now = deps.clock.now()
  const queued = await deps.db
    .transaction()
    .execute(async (trx) => {
      // The row first (a write, so SQLite processes sharing the file queue rather than fail), then
      // the count including it; over the limit, the transaction is rolled back.
      await enqueueMail(trx, { template: 'password_reset', email }, now)
      if (
        (await countMailSince(trx, 'password_reset', { email }, now - RESET_ACCOUNT_WINDOW_MS)) >
        RESET_MAILS_PER_ACCOUNT
      )
        throw overLimit
      await deleteAccountTokensOfEmail(trx, 'password_reset_tokens', email)
      return true
    })
    .catch((error: unknown) => {
      if (error === overLimit) return false
      throw error
    })
  await recordAuditEvent(deps, { event: queued ? 'password_reset.requested' : 'password_reset.throttled', ip: meta.ip })
}

/**
 * POST /auth/password-reset/confirm and the hosted form: a live token and an acceptable password
 * set the new password, end every session and refresh family, void every access token, lift the
 * login back-off (the only way out of its lock), and mail a notice, in one transaction. It does
 * not sign the user in.
 */
export async function confirmPasswordReset(
  deps: Pick<Deps, 'db' | 'clock' | 'config' | 'log' | 'passwordHasher' | 'loginBackoff'>,
  input: { token: string; password: string },
  meta: { ip: string | null },
): Promise<void> {
  assertPasswordWithinLimit(input.password)
  const found = await findLiveAccountToken(deps.db, 'password_reset_tokens', input.token, deps.clock.now())
  const user = found ? await findUserById(deps.db, found.userId) : null
  if (!found || !user || user.disabled) throw invalidResetToken()
  // Checked before the token is used, so a refused password leaves the link working.
  assertAcceptablePassword(input.password, { email: user.email, minLength: deps.config.passwordMinLength })
  const passwordHash = await deps.passwordHasher.hash(normalizePassword(input.password))
  const now = deps.clock.now()
  const revoked = await deps.db.transaction().execute(async (trx) => {
    if (!(await consumeAccountToken(trx, 'password_reset_tokens', input.token, now))) throw invalidResetToken()
    await updatePasswordHash(trx, user.id, passwordHash, now)
    // Following the link proved control of the address it was sent to.
    if (found.email === user.email) await markEmailVerified(trx, user.id, user.email, now)
    return endUserAccess(trx, user.id, 'password_reset', { now })
  })
  await deps.loginBackoff.reset(user.email)
  await recordAuditEvent(deps, {
    event: 'password.reset',
    userId: user.id,
    ip: meta.ip,
    details: { sessions_revoked: revoked.length },
  })
}
