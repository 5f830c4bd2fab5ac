import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { enqueueMail } from '../mail/outbox.store.js'
import type { User } from '../users/user.js'
import { deleteMfaChallengesOfUser } from './mfa-challenge.store.js'
import { hashRecoveryCode, openTotpSecret, sealTotpSecret, type MfaSecrets } from './mfa-secrets.js'
import { countUnusedRecoveryCodes, deleteRecoveryCodes, replaceRecoveryCodes } from './recovery-code.store.js'
import { generateRecoveryCodes } from './recovery-codes.js'
import { generateTotpSecret, matchTotpStep, totpUri } from './totp.js'
import { confirmTotpFactor, deleteTotpFactor, findTotpFactor, savePendingTotpFactor } from './totp-factor.store.js'

/** A secret set up but not confirmed is good for this long; then setup starts again. */
const PENDING_SETUP_TTL_MS = 10 * 60_000

type EnrolDeps = Pick<Deps, 'db' | 'clock' | 'log' | 'config' | 'mfaSecrets'>
type Meta = { ip: string | null; sessionId?: string }

const alreadyEnrolled = () =>
  new ApiError('mfa_already_enrolled', 409, 'an authenticator app is already set up; remove it first to set up another')

/** A new secret, not yet active: the user adds it to their app and confirms with a code. */
export async function setUpTotp(deps: EnrolDeps, user: User): Promise<{ secret: string; otpauthUri: string }> {
  const secret = await generateTotpSecret()
  const sealed = await sealTotpSecret(deps.mfaSecrets, user.id, secret)
  if (!(await savePendingTotpFactor(deps.db, user.id, sealed, deps.clock.now()))) throw alreadyEnrolled()
  return { secret, otpauthUri: await totpUri(secret, { issuer: deps.config.productName, label: user.email }) }
}

/**
 * Activates the pending secret with a code from the app, and returns ten new recovery codes (only
 * their hashes are kept). The owner is mailed in the same transaction.
 */
export async function confirmTotp(deps: EnrolDeps, user: User, code: string, meta: Meta): Promise<string[]> {
  const factor = await findTotpFactor(deps.db, user.id)
  if (factor?.confirmedAt != null) throw alreadyEnrolled()
  const now = deps.clock.now()
  if (!factor || now - factor.createdAt > PENDING_SETUP_TTL_MS)
    throw new ApiError('mfa_setup_required', 409, 'no authenticator setup is pending; start the setup again')
  const secret = await openTotpSecret(deps.mfaSecrets, user.id, factor.secretSealed)
  const step = await matchTotpStep(secret, code.trim(), now)
  if (step === null) throw new ApiError('invalid_mfa_code', 400, 'the code is incorrect; check the time on your device')
  const codes = generateRecoveryCodes()
  const confirmed = await deps.db.transaction().execute(async (trx) => {
    if (!(await confirmTotpFactor(trx, user.id, step, now))) return false
    await storeRecoveryCodes(trx, deps.mfaSecrets, user.id, codes, now)
    await enqueueMail(trx, { template: 'mfa_added', userId: user.id }, now)
    return true
  })
  if (!confirmed) throw alreadyEnrolled()
  await recordAuditEvent(deps, { event: 'mfa.totp_added', userId: user.id, sessionId: meta.sessionId, ip: meta.ip })
  return codes
}

/** Ten new recovery codes; the old ones stop working. */
export async function regenerateRecoveryCodes(deps: EnrolDeps, user: User, meta: Meta): Promise<string[]> {
  const factor = await findTotpFactor(deps.db, user.id)
  if (factor?.confirmedAt == null) throw new ApiError('mfa_not_enrolled', 409, 'no second factor is set up')
  const codes = generateRecoveryCodes()
  const now = deps.clock.now()
  await deps.db.transaction().execute((trx) => storeRecoveryCodes(trx, deps.mfaSecrets, user.id, codes, now))
  await recordAuditEvent(deps, {
    event: 'mfa.recovery_codes_regenerated',
    userId: user.id,
    sessionId: meta.sessionId,
    ip: meta.ip,
  })
  return codes
}

async function storeRecoveryCodes(
  trx: Transaction<Database>,
  secrets: MfaSecrets,
  userId: string,
  codes: string[],
  now: number,
): Promise<void> {
  await replaceRecoveryCodes(
    trx,
    userId,
    codes.map((code) => hashRecoveryCode(secrets, code)),
    now,
  )
}

/**
 * Removes the TOTP factor, its recovery codes and pending second steps, inside the caller's
 * transaction; mails the owner when a confirmed factor went. True if there was one.
 */
export async function removeTotp(
  trx: Kysely<Database> | Transaction<Database>,
  userId: string,
  now: number,
  by: 'user' | 'operator',
): Promise<boolean> {
  const factor = await findTotpFactor(trx, userId)
  await deleteTotpFactor(trx, userId)
  await deleteRecoveryCodes(trx, userId)
  await deleteMfaChallengesOfUser(trx, userId)
  const hadFactor = factor?.confirmedAt != null
  if (hadFactor) await enqueueMail(trx, { template: 'mfa_removed', userId, details: { by } }, now)
  return hadFactor
}

export interface MfaStatus {
  totp: boolean
  totpAddedAt: number | null
  recoveryCodesLeft: number
}

export async function mfaStatusOf(deps: Pick<Deps, 'db'>, userId: string): Promise<MfaStatus> {
  const factor = await findTotpFactor(deps.db, userId)
  const confirmed = factor?.confirmedAt != null
  return {
    totp: confirmed,
    totpAddedAt: confirmed ? factor.confirmedAt : null,
    recoveryCodesLeft: confirmed ? await countUnusedRecoveryCodes(deps.db, userId) : 0,
  }
}
