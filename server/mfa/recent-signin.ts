import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { assertPasswordWithinLimit, normalizePassword } from '../users/password-policy.js'
import type { User } from '../users/user.js'

/** Adding, changing or removing a second factor needs a sign-in this recent, or the password. */
export const RECENT_SIGNIN_MS = 5 * 60_000

/**
 * A stolen access token alone must not change how the account signs in: the token's sign-in
 * (auth_time) is younger than 5 minutes, or the request carries the password, whose failures
 * count on the account's back-off like any other sign-in.
 */
export async function assertRecentSignin(
  deps: Pick<Deps, 'db' | 'clock' | 'log' | 'loginBackoff' | 'passwordHasher'>,
  user: User,
  proof: { authTime: unknown; password: string | undefined; ip: string | null },
): Promise<void> {
  if (proof.password === undefined) {
    const authTimeMs = typeof proof.authTime === 'number' ? proof.authTime * 1000 : 0
    if (deps.clock.now() - authTimeMs <= RECENT_SIGNIN_MS) return
    throw new ApiError(
      'reauthentication_required',
      403,
      'this needs a sign-in from the last 5 minutes, or your password in the request',
    )
  }
  assertPasswordWithinLimit(proof.password)
  // Counted before the guess is checked (finding M3); taken back when it was right.
  const gate = await deps.loginBackoff.reserve(user.email)
  if (!gate.allowed)
    throw new ApiError(
      'too_many_attempts',
      429,
      `too many failed attempts; retry after ${gate.retryAfterSeconds} seconds`,
      { 'retry-after': String(gate.retryAfterSeconds) },
    )
  const share = { owner: user.email }
  if (!(await deps.passwordHasher.verify(user.passwordHash, normalizePassword(proof.password), share))) {
    await recordAuditEvent(deps, { event: 'mfa.reauthentication_failed', userId: user.id, ip: proof.ip })
    throw new ApiError('invalid_credentials', 403, 'the password is incorrect')
  }
  await gate.reservation!.release()
}
