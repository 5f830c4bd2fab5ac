import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import type { LoginOutcome } from '../metrics/metrics.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { canonicalEmail } from './email.js'
import { assertPasswordWithinLimit, normalizePassword } from './password-policy.js'
import { queueVerificationMail } from './email-verification.js'
import { findUserByEmail, replacePasswordHashIfUnchanged } from './user.store.js'
import type { User } from './user.js'
import type { SigninProof } from './signin-proof.js'

/** A user whose password was right, and what the check proved (for the sign-in it opens). */
export interface PasswordSignin {
  user: User
  proof: SigninProof
}

/** Wrong password, unknown email and disabled account: one answer (ASVS 6.3.8). */
const invalidCredentials = () => new ApiError('invalid_credentials', 401, 'the email or password is incorrect')

/**
 * Checks an email and password, shared by POST /auth/login and the hosted login page. The
 * back-off counter is on the canonical account (known or not), and an unknown account costs a
 * dummy argon2 verify, so the three failures look and take alike.
 */
export async function authenticatePassword(
  deps: Pick<Deps, 'db' | 'clock' | 'config' | 'log' | 'passwordHasher' | 'loginBackoff' | 'metrics'>,
  credentials: { email: string; password: string },
  meta: PasswordCheckMeta,
): Promise<PasswordSignin> {
  try {
    const { secondStep, ...signin } = await checkPassword(deps, credentials, meta)
    deps.metrics.logins.inc({ outcome: secondStep ? 'second_factor_needed' : 'success' })
    return signin
  } catch (error) {
    deps.metrics.logins.inc({ outcome: loginOutcomeOf(error) })
    throw error
  }
}

const outcomesByCode: Record<string, LoginOutcome> = {
  invalid_credentials: 'bad_credentials',
  too_many_attempts: 'throttled',
  temporarily_unavailable: 'busy',
  email_not_verified: 'email_not_verified',
}

function loginOutcomeOf(error: unknown): LoginOutcome {
  return (error instanceof ApiError ? outcomesByCode[error.error] : undefined) ?? 'rejected'
}

interface PasswordCheckMeta {
  ip: string | null
  /** True when a second step follows the password (the account has a second factor). */
  hasSecondFactor?: (user: User) => Promise<boolean>
}

/**
 * The hashing queue's fast refusal before a sign-in request is read, counted as a busy login:
 * operators see logins refused for load apart from wrong passwords.
 */
export function assertLoginCapacity(deps: Pick<Deps, 'passwordHasher' | 'metrics'>): void {
  try {
    deps.passwordHasher.assertCapacity()
  } catch (error) {
    deps.metrics.logins.inc({ outcome: 'busy' })
    throw error
  }
}

async function checkPassword(
  deps: Pick<Deps, 'db' | 'clock' | 'config' | 'log' | 'passwordHasher' | 'loginBackoff'>,
  credentials: { email: string; password: string },
  meta: PasswordCheckMeta,
): Promise<PasswordSignin & { secondStep: boolean }> {
  assertPasswordWithinLimit(credentials.password)
  const email = canonicalEmail(credentials.email)
  // The attempt is counted before the guess is checked (finding M3), and forgiven after.
  const gate = await deps.loginBackoff.reserve(email)
  if (!gate.allowed) {
    await recordAuditEvent(deps, { event: 'login.backoff', ip: meta.ip, details: { locked: gate.locked } })
    throw new ApiError(
      'too_many_attempts',
      429,
      `too many failed attempts; retry after ${gate.retryAfterSeconds} seconds`,
      { 'retry-after': String(gate.retryAfterSeconds) },
    )
  }
  const password = normalizePassword(credentials.password)
  // auth_time: the check begins before the user is read, so anything that changes the user after
  // this instant is later than the sign-in it would overtake (finding H1).
  const authTime = deps.clock.now()
  let user: Awaited<ReturnType<typeof findUserByEmail>>
  let valid: boolean
  try {
    user = await findUserByEmail(deps.db, email)
    // One account's share of the hashing queue is bounded (finding M2), known or not alike.
    valid = user
      ? await deps.passwordHasher.verify(user.passwordHash, password, { owner: email })
      : await deps.passwordHasher.verifyDummy(password, { owner: email })
  } catch (error) {
    // A database outage or a full hashing queue (503) checked no guess: the attempt is given back,
    // or an outage would lock every account that tried to sign in during it.
    await gate.reservation?.release().catch(() => undefined)
    throw error
  }
  if (!user || !valid || user.disabled) {
    await recordAuditEvent(deps, {
      event: 'login.failed',
      userId: user?.id ?? null,
      ip: meta.ip,
      details: { reason: !user ? 'unknown_account' : !valid ? 'wrong_password' : 'disabled' },
    })
    throw invalidCredentials()
  }
  // With a second factor, only the whole sign-in clears the count: otherwise every correct password
  // would forgive the wrong codes before it, and the back-off would never reach a code guesser.
  const secondStep = (await meta.hasSecondFactor?.(user)) ?? false
  if (secondStep) await gate.reservation!.release()
  else await deps.loginBackoff.recordSuccess(email)
  if (deps.config.requireVerifiedEmail && !user.emailVerified) {
    // Signed-out users cannot call /auth/email/resend: the right password sends a fresh link
    // instead (within the per-account limit), so an expired one never locks them out.
    await queueVerificationMail(deps, user.id)
    throw new ApiError(
      'email_not_verified',
      403,
      'verify your email address before signing in: follow the link we emailed you',
    )
  }
  const proof: SigninProof = {
    userId: user.id,
    authTime,
    password: { verifiedHash: user.passwordHash, credentialsChangedAt: user.credentialsChangedAt },
  }
  if (deps.passwordHasher.needsRehash(user.passwordHash)) {
    // Compare-and-set (finding F2): a password changed while this one was rehashed stays changed.
    const rehashed = await deps.passwordHasher.hash(password, { owner: email })
    if (
      await replacePasswordHashIfUnchanged(
        deps.db,
        user.id,
        { verified: user.passwordHash, rehashed },
        deps.clock.now(),
      )
    )
      proof.password = { ...proof.password!, verifiedHash: rehashed }
  }
  return { user, proof, secondStep }
}
