import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { consumeMfaChallenge, countMfaChallengeFailure } from './mfa-challenge.store.js'
import {
  invalidMfaToken,
  liveChallengeOf,
  MAX_WRONG_CODES,
  reserveSecondStepAttempt,
  secondFactorsOf,
  type CompletedSignin,
} from './second-step.js'
import { confirmTotp, setUpTotp } from './totp-enrolment.js'

// LATCHKEY_MFA=required and the first-party API: a user without a second factor who passed the
// password step gets `mfa_enrolment_required` with an mfa_token instead of a session. That token
// (5 minutes, single use, bound to the password step) lets them set up TOTP and nothing else;
// confirming the factor with a code finishes the sign-in, as a second step would.

type EnrolDeps = Pick<Deps, 'db' | 'clock' | 'log' | 'config' | 'mfaSecrets' | 'loginBackoff'>

/** Only a user with no factor at all may enrol this way: otherwise the token would skip their factor. */
async function assertNoFactorYet(deps: Pick<Deps, 'db'>, userId: string): Promise<void> {
  if ((await secondFactorsOf(deps, userId)).length > 0)
    throw new ApiError(
      'mfa_already_enrolled',
      409,
      'a second factor is already set up; finish the sign-in with it at /auth/login/mfa',
    )
}

export async function setUpTotpAtSignin(
  deps: EnrolDeps,
  mfaToken: string,
): Promise<{ secret: string; otpauthUri: string }> {
  const { user } = await liveChallengeOf(deps, mfaToken)
  await assertNoFactorYet(deps, user.id)
  return setUpTotp(deps, user)
}

/** Activates the TOTP factor set up with this token and finishes the sign-in; the recovery codes are shown once. */
export async function confirmTotpAtSignin(
  deps: EnrolDeps,
  mfaToken: string,
  code: string,
  meta: { ip: string | null },
): Promise<{ signin: CompletedSignin; recoveryCodes: string[] }> {
  const { challenge, user, tokenHash } = await liveChallengeOf(deps, mfaToken)
  await assertNoFactorYet(deps, user.id)
  // Counted before the code is checked, as in the second step (finding M3).
  const reservation = await reserveSecondStepAttempt(deps, user, meta)
  let recoveryCodes
  try {
    recoveryCodes = await confirmTotp(deps, user, code, meta)
  } catch (error) {
    if (error instanceof ApiError && error.error === 'invalid_mfa_code')
      await countMfaChallengeFailure(deps.db, tokenHash)
    else await reservation.release()
    throw error
  }
  await deps.loginBackoff.recordSuccess(user.email)
  if (!(await consumeMfaChallenge(deps.db, tokenHash, deps.clock.now(), MAX_WRONG_CODES))) throw invalidMfaToken()
  // RFC 8176: the code from the factor just added is a one-time password; with the password, "mfa".
  const amr = [...new Set([...challenge.amr, 'otp', 'mfa'])]
  return { signin: { user, amr, authTime: challenge.authTime, method: 'totp' }, recoveryCodes }
}
