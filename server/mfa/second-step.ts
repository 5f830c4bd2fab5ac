import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { enqueueMail } from '../mail/outbox.store.js'
import { generateOpaqueToken, hashOpaqueToken } from '../opaque-token.js'
import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server'
import { authenticatePasskey, createAuthenticationOptions } from '../passkeys/authenticate-passkey.js'
import { findPasskeysOfUser } from '../passkeys/passkey.store.js'
import { findUserById } from '../users/user.store.js'
import type { User } from '../users/user.js'
import { assertSigninStillValid, type SigninProof } from '../users/signin-proof.js'
import type { BackoffReservation } from '../users/login-backoff.js'
import {
  consumeMfaChallenge,
  countMfaChallengeFailure,
  findMfaChallenge,
  insertMfaChallenge,
  type MfaChallenge,
} from './mfa-challenge.store.js'
import { hashRecoveryCode, openTotpSecret } from './mfa-secrets.js'
import { countUnusedRecoveryCodes, useRecoveryCode } from './recovery-code.store.js'
import { matchTotpStep } from './totp.js'
import { claimTotpStep, findTotpFactor } from './totp-factor.store.js'

// The second step of a sign-in, shared by POST /auth/login/mfa and the hosted sign-in page. The
// first step (a password today) leaves a challenge named by an opaque mfa_token; any second factor
// can finish it (a TOTP code or a recovery code here; a passkey can take the same challenge).

/** API.md: the mfa_token lives 5 minutes and dies after 5 wrong codes. */
const MFA_TOKEN_TTL_MS = 5 * 60_000
export const MAX_WRONG_CODES = 5

type StepDeps = Pick<Deps, 'db' | 'clock' | 'log' | 'loginBackoff' | 'mfaSecrets'>

/** What the first step proved. */
export interface FirstStep {
  amr: string[]
  authTime: number
  /** The password check, re-checked when the challenge is stored (signin-proof.ts). */
  password?: SigninProof['password']
}

/** A sign-in with both steps done: the user, and RFC 8176 amr values for the session and its tokens. */
export interface CompletedSignin {
  user: User
  amr: string[]
  authTime: number
  method: 'totp' | 'recovery_code' | 'passkey'
}

export const invalidMfaToken = () =>
  new ApiError('invalid_mfa_token', 401, 'the sign-in has expired or was already finished; sign in again')
const invalidCode = () => new ApiError('invalid_mfa_code', 401, 'the code is incorrect or was already used')

export type SecondFactor = 'totp' | 'passkey'

/**
 * The second factors a user has; empty when the password alone signs them in. A passkey counts:
 * once a user has one, a password alone is no longer enough (the passkey can be the second step).
 */
export async function secondFactorsOf(deps: Pick<Deps, 'db'>, userId: string): Promise<SecondFactor[]> {
  const [totp, passkeys] = await Promise.all([findTotpFactor(deps.db, userId), findPasskeysOfUser(deps.db, userId)])
  return [
    ...(totp?.confirmedAt != null ? (['totp'] as const) : []),
    ...(passkeys.length > 0 ? (['passkey'] as const) : []),
  ]
}

/** The challenge of a live mfa_token and its user, or invalid_mfa_token. */
export async function liveChallengeOf(
  deps: Pick<Deps, 'db' | 'clock'>,
  mfaToken: string,
): Promise<{ challenge: MfaChallenge; user: User; tokenHash: string }> {
  const tokenHash = hashOpaqueToken(mfaToken)
  const challenge = await findMfaChallenge(deps.db, tokenHash)
  if (!isLive(challenge, deps.clock.now())) throw invalidMfaToken()
  const user = await findUserById(deps.db, challenge.userId)
  if (!user || user.disabled) throw invalidMfaToken()
  return { challenge, user, tokenHash }
}

/** Request options for a passkey as the second step: the user's passkeys, a challenge bound to them. */
export async function createSecondStepPasskeyOptions(
  deps: Pick<Deps, 'db' | 'clock' | 'config'>,
  mfaToken: string,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const { user } = await liveChallengeOf(deps, mfaToken)
  return createAuthenticationOptions(deps, user.id)
}

/**
 * Finishes a sign-in with one of the user's passkeys (user verification required). A passkey that
 * fails counts as a wrong code on the challenge; a good one uses the challenge up. amr: the first
 * step's methods plus the passkey's (RFC 8176 "hwk"/"swk", "user", "mfa").
 */
export async function finishSecondStepWithPasskey(
  deps: StepDeps & Pick<Deps, 'config'>,
  mfaToken: string,
  response: AuthenticationResponseJSON,
  meta: { ip: string | null },
): Promise<CompletedSignin> {
  const { challenge, user, tokenHash } = await liveChallengeOf(deps, mfaToken)
  // Counted before the passkey is checked, like a code (finding M3): parallel tries get no more.
  const reservation = await reserveSecondStepAttempt(deps, user, meta)
  let signedIn
  try {
    signedIn = await authenticatePasskey(deps, response, { ip: meta.ip, forUserId: user.id })
  } catch (error) {
    await countMfaChallengeFailure(deps.db, tokenHash)
    throw error
  }
  if (!(await consumeMfaChallenge(deps.db, tokenHash, deps.clock.now(), MAX_WRONG_CODES))) {
    await reservation.release()
    throw invalidMfaToken()
  }
  await deps.loginBackoff.recordSuccess(user.email)
  await recordAuditEvent(deps, {
    event: 'mfa.succeeded',
    userId: user.id,
    ip: meta.ip,
    details: { method: 'passkey', passkey_id: signedIn.passkey.id },
  })
  const amr = [...new Set([...challenge.amr, ...signedIn.amr])]
  return { user, amr, authTime: challenge.authTime, method: 'passkey' }
}

/**
 * Counts one attempt at a second factor on the account's back-off before it is checked, in the
 * same atomic step that finds it allowed (finding M3), or refuses with 429: of many parallel
 * guesses, across any number of mfa_tokens, only as many are evaluated as the policy allows one
 * at a time. The caller clears the count on success (`recordSuccess`) or releases the reservation
 * when nothing was guessed.
 */
export async function reserveSecondStepAttempt(
  deps: Pick<Deps, 'db' | 'clock' | 'log' | 'loginBackoff'>,
  user: User,
  meta: { ip: string | null },
): Promise<BackoffReservation> {
  const gate = await deps.loginBackoff.reserve(user.email)
  if (!gate.allowed) {
    await recordAuditEvent(deps, { event: 'login.backoff', userId: user.id, ip: meta.ip, details: { step: 'mfa' } })
    throw new ApiError(
      'too_many_attempts',
      429,
      `too many failed attempts; retry after ${gate.retryAfterSeconds} seconds`,
      { 'retry-after': String(gate.retryAfterSeconds) },
    )
  }
  return gate.reservation!
}

/** Opens the second step for a user who passed the first; returns the mfa_token (never stored). */
export async function startSecondStep(
  deps: Pick<Deps, 'db' | 'clock' | 'config'>,
  user: User,
  first: FirstStep,
): Promise<string> {
  const token = generateOpaqueToken()
  const now = deps.clock.now()
  // A first step overtaken by a password change or reset opens no second step (finding H1); one
  // overtaken later is refused when the session or sign-in is created, by its auth_time.
  await deps.db.transaction().execute(async (trx) => {
    await assertSigninStillValid(trx, deps.config, {
      userId: user.id,
      authTime: first.authTime,
      password: first.password,
    })
    await insertMfaChallenge(trx, {
      tokenHash: hashOpaqueToken(token),
      userId: user.id,
      amr: first.amr,
      authTime: first.authTime,
      now,
      expiresAt: now + MFA_TOKEN_TTL_MS,
    })
  })
  return token
}

function isLive(challenge: MfaChallenge | null, now: number): challenge is MfaChallenge {
  return (
    challenge !== null && challenge.usedAt === null && challenge.expiresAt > now && challenge.failures < MAX_WRONG_CODES
  )
}

/**
 * Finishes a sign-in with a TOTP code (six digits, ±1 step, each step taken once) or an unused
 * recovery code. Wrong codes count on the challenge (5 kill it) and on the account's back-off;
 * the challenge is used up in the same transaction that takes the code, so one token finishes
 * one sign-in, and one code one sign-in.
 */
export async function finishSecondStep(
  deps: StepDeps,
  mfaToken: string,
  code: string,
  meta: { ip: string | null },
): Promise<CompletedSignin> {
  const { challenge, user, tokenHash } = await liveChallengeOf(deps, mfaToken)
  // Counted before the code is checked, forgiven after (finding M3).
  const reservation = await reserveSecondStepAttempt(deps, user, meta)
  const typed = code.trim()
  const method = /^\d{6}$/.test(typed) ? 'totp' : 'recovery_code'
  const outcome =
    method === 'totp'
      ? await takeTotpCode(deps, user, tokenHash, typed)
      : await takeRecoveryCode(deps, user, tokenHash, typed)
  if (outcome === 'challenge_gone') {
    await reservation.release()
    throw invalidMfaToken()
  }
  if (outcome === 'wrong') {
    const failures = await countMfaChallengeFailure(deps.db, tokenHash)
    await recordAuditEvent(deps, {
      event: 'mfa.failed',
      userId: user.id,
      ip: meta.ip,
      details: { method, failures },
    })
    if (failures >= MAX_WRONG_CODES)
      throw new ApiError('invalid_mfa_code', 401, 'the code is incorrect; too many wrong codes, sign in again')
    throw invalidCode()
  }
  await deps.loginBackoff.recordSuccess(user.email)
  await recordAuditEvent(deps, {
    event: method === 'totp' ? 'mfa.succeeded' : 'mfa.recovery_code_used',
    userId: user.id,
    ip: meta.ip,
    details: method === 'totp' ? { method } : { method, remaining: outcome.remaining },
  })
  // RFC 8176: "otp" for a one-time password (a recovery code is one too), "mfa" for more than one factor.
  const amr = [...new Set([...challenge.amr, 'otp', 'mfa'])]
  return { user, amr, authTime: challenge.authTime, method }
}

type Outcome = 'wrong' | 'challenge_gone' | { remaining: number | null }

/** Thrown inside a transaction to roll back a code taken for a challenge that died meanwhile. */
class ChallengeGone extends Error {}

async function takeTotpCode(deps: StepDeps, user: User, tokenHash: string, code: string): Promise<Outcome> {
  const factor = await findTotpFactor(deps.db, user.id)
  if (!factor || factor.confirmedAt === null) return 'wrong'
  const secret = await openTotpSecret(deps.mfaSecrets, user.id, factor.secretSealed)
  const now = deps.clock.now()
  const step = await matchTotpStep(secret, code, now)
  if (step === null) return 'wrong'
  try {
    return await deps.db.transaction().execute(async (trx) => {
      // A code whose step (or a later one) was already taken is a replay, even from another instance.
      if (!(await claimTotpStep(trx, user.id, step))) return 'wrong' as const
      if (!(await consumeMfaChallenge(trx, tokenHash, now, MAX_WRONG_CODES))) throw new ChallengeGone()
      return { remaining: null }
    })
  } catch (error) {
    if (error instanceof ChallengeGone) return 'challenge_gone'
    throw error
  }
}

async function takeRecoveryCode(deps: StepDeps, user: User, tokenHash: string, code: string): Promise<Outcome> {
  if (code.length > 64) return 'wrong'
  const now = deps.clock.now()
  const hash = hashRecoveryCode(deps.mfaSecrets, code)
  try {
    return await deps.db.transaction().execute(async (trx) => {
      if (!(await useRecoveryCode(trx, user.id, hash, now))) return 'wrong' as const
      if (!(await consumeMfaChallenge(trx, tokenHash, now, MAX_WRONG_CODES))) throw new ChallengeGone()
      const remaining = await countUnusedRecoveryCodes(trx, user.id)
      await enqueueMail(trx, { template: 'recovery_code_used', userId: user.id, details: { remaining } }, now)
      return { remaining }
    })
  } catch (error) {
    if (error instanceof ChallengeGone) return 'challenge_gone'
    throw error
  }
}
