import { ApiError, NotFound } from '../errors.js'
import { deleteMailOfUser, enqueueMail } from '../mail/outbox.store.js'
import { removeTotp } from '../mfa/totp-enrolment.js'
import { deleteMfaChallengesOfUser } from '../mfa/mfa-challenge.store.js'
import { countUnusedRecoveryCodes, deleteRecoveryCodes } from '../mfa/recovery-code.store.js'
import { deleteTotpFactor, findTotpFactor } from '../mfa/totp-factor.store.js'
import { deletePasskeysOfUser, findPasskeysOfUser } from '../passkeys/passkey.store.js'
import { deleteChallengesOfUser } from '../passkeys/webauthn-challenge.store.js'
import { forgetAuditOriginsOfUser, listAuditEvents } from '../audit/audit-event.store.js'
import { deleteConsentsOfUser, listConsentsOfUser } from '../consents/consent.store.js'
import { endUserAccess } from '../sessions/end-user-access.js'
import { findSessionsOfUser, forgetSessionOriginsOfUser } from '../sessions/session.store.js'
import { deleteSigninSessionsOfUser } from '../sessions/signin-session.store.js'
import { forgetDeviceAuthorizationOriginsOfUser } from '../sessions/device-authorization.store.js'
import { canonicalEmail } from '../users/email.js'
import { viewUser, type User, type UserView } from '../users/user.js'
import { eraseUser, findUserByEmail, findUserById, searchUsers, setUserDisabled } from '../users/user.store.js'
import { auditAdminAction, type Actor, type AdminDeps } from './admin-actor.js'
import { viewAuditEvent } from './audit-admin.js'
import { decodeCursor, readPage } from './page-cursor.js'
import { viewSession } from './session-admin.js'

// The user operations of the admin API and the CLI, one function each.

export async function findUserForAdmin(deps: AdminDeps, id: string): Promise<User> {
  const user = await findUserById(deps.db, id)
  if (!user) throw new NotFound(`no user with id ${id}`)
  return user
}

/** The CLI names users by email; erased users have none. */
export async function findUserByEmailForAdmin(deps: AdminDeps, email: string): Promise<User> {
  const user = await findUserByEmail(deps.db, canonicalEmail(email))
  if (!user) throw new NotFound(`no user with email ${canonicalEmail(email)}`)
  return user
}

export function searchUsersPage(
  deps: AdminDeps,
  filter: { emailPrefix?: string; disabled?: boolean },
  page: { cursor?: string; limit?: string | number },
) {
  const after = decodeCursor(page.cursor)
  const emailPrefix = filter.emailPrefix === undefined ? undefined : canonicalEmail(filter.emailPrefix)
  return readPage(
    page.limit,
    (limit) => searchUsers(deps.db, { ...filter, emailPrefix }, { limit, after }),
    (u) => ({ createdAt: u.createdAt, id: u.id }),
    viewUser,
  )
}

/**
 * Disables (ending every session, sign-in, link and token through endUserAccess) or enables a
 * user. Enabling gives back the ability to sign in, not the sessions that ended.
 */
export async function setUserDisabledAsAdmin(
  deps: AdminDeps,
  actor: Actor,
  user: User,
  disabled: boolean,
): Promise<UserView & { sessions_revoked: number }> {
  if (user.erasedAt !== null) throw new NotFound(`no user with id ${user.id}`)
  const now = deps.clock.now()
  const revoked = await deps.db.transaction().execute(async (trx) => {
    // Erased in the meantime: the store refuses, and the answer is the one for an unknown user.
    if (!(await setUserDisabled(trx, user.id, now, disabled))) return null
    return disabled ? endUserAccess(trx, user.id, 'user_disabled', { now }) : []
  })
  if (revoked === null) throw new NotFound(`no user with id ${user.id}`)
  await auditAdminAction(deps, actor, {
    event: disabled ? 'user.disabled' : 'user.enabled',
    userId: user.id,
    details: { sessions_revoked: revoked.length },
  })
  return { ...viewUser({ ...user, disabled }), sessions_revoked: revoked.length }
}

/**
 * Erasure: every session, sign-in, code and link ends (endUserAccess 'user_deleted'), the email,
 * name and password hash are removed, and the row stays as a pseudonymous id that audit rows keep
 * pointing to. Consents go too: they are about a person who no longer has an account. So does
 * every other row with the person's data or credentials: TOTP factor, recovery codes, passkeys,
 * pending second steps and WebAuthn challenges, hosted sign-ins, outbox mail; sessions and device
 * sign-ins keep their ids and outcomes (the revocation feed needs them) without IP or user agent.
 */
export async function eraseUserAsAdmin(
  deps: AdminDeps,
  actor: Actor,
  user: User,
): Promise<{ deleted: string; sessions_revoked: number }> {
  if (user.erasedAt !== null) throw new NotFound(`no user with id ${user.id}`)
  const now = deps.clock.now()
  const revoked = await deps.db.transaction().execute(async (trx) => {
    const ended = await endUserAccess(trx, user.id, 'user_deleted', { now })
    await eraseUser(trx, user.id, now)
    await deleteConsentsOfUser(trx, user.id)
    // Second factors and their pending challenges (credentials), hosted sign-ins, mail about the
    // person, and where their sessions and audit events came from. No notice is mailed: the
    // address is gone.
    await deleteTotpFactor(trx, user.id)
    await deleteRecoveryCodes(trx, user.id)
    await deleteMfaChallengesOfUser(trx, user.id)
    await deletePasskeysOfUser(trx, user.id)
    await deleteChallengesOfUser(trx, user.id)
    await deleteSigninSessionsOfUser(trx, user.id)
    await forgetSessionOriginsOfUser(trx, user.id)
    await forgetDeviceAuthorizationOriginsOfUser(trx, user.id)
    await forgetAuditOriginsOfUser(trx, user.id)
    await deleteMailOfUser(trx, user.id, user.email)
    return ended
  })
  await auditAdminAction(deps, actor, {
    event: 'user.deleted',
    userId: user.id,
    details: { sessions_revoked: revoked.length },
  })
  return { deleted: user.id, sessions_revoked: revoked.length }
}

/** Audit rows are read in pages of this many, so an export holds all of them without one huge query. */
const EXPORT_AUDIT_BATCH = 1_000

/** Every audit event about the user, newest first, page by page (keyset pagination). */
async function listAllAuditEventsOfUser(deps: AdminDeps, userId: string) {
  const events = []
  let before: { createdAt: number; id: string } | null = null
  for (;;) {
    const batch = await listAuditEvents(deps.db, { userId }, { limit: EXPORT_AUDIT_BATCH, before })
    events.push(...batch)
    if (batch.length < EXPORT_AUDIT_BATCH) return events
    const last = batch[batch.length - 1]!
    before = { createdAt: last.createdAt, id: last.id }
  }
}

const isoOrNull = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/**
 * Everything stored about a user (GDPR art. 15/20), without secrets or hashes: passkeys without
 * their public keys, the TOTP factor as its enrolment time, recovery codes as the number left, and
 * every audit event (no cap).
 */
export async function exportUser(deps: AdminDeps, actor: Actor, user: User) {
  const [sessions, consents, passkeys, totp, recoveryCodesLeft, events] = await Promise.all([
    findSessionsOfUser(deps.db, user.id),
    listConsentsOfUser(deps.db, user.id),
    findPasskeysOfUser(deps.db, user.id),
    findTotpFactor(deps.db, user.id),
    countUnusedRecoveryCodes(deps.db, user.id),
    listAllAuditEventsOfUser(deps, user.id),
  ])
  const exported = {
    user: viewUser(user),
    sessions: sessions.map(viewSession),
    consents: consents.map((c) => ({
      client_id: c.clientId,
      scope: c.scopes.join(' '),
      audiences: c.audiences,
      created_at: new Date(c.createdAt).toISOString(),
      updated_at: new Date(c.updatedAt).toISOString(),
    })),
    passkeys: passkeys.map((p) => ({
      id: p.id,
      name: p.name,
      credential_id: p.credentialId,
      transports: p.transports,
      backup_eligible: p.backupEligible,
      backed_up: p.backedUp,
      created_at: new Date(p.createdAt).toISOString(),
      last_used_at: isoOrNull(p.lastUsedAt),
    })),
    mfa: {
      totp_enrolled_at: isoOrNull(totp?.confirmedAt ?? null),
      recovery_codes_remaining: recoveryCodesLeft,
    },
    audit_events: events.map(viewAuditEvent),
  }
  await auditAdminAction(deps, actor, { event: 'user.exported', userId: user.id })
  return exported
}

/**
 * An operator's way back in for a user who lost their second factor: the TOTP factor, its
 * recovery codes and every passkey go, every session, sign-in and pending code ends through
 * endUserAccess ('mfa_reset'), and the user is mailed. A user without a factor is refused, so a
 * typo cannot sign someone out for nothing.
 */
export async function resetMfaAsAdmin(
  deps: AdminDeps,
  actor: Actor,
  user: User,
): Promise<{ id: string; email: string; factors_removed: string[]; sessions_revoked: number }> {
  if (user.erasedAt !== null) throw new NotFound(`no user with id ${user.id}`)
  const now = deps.clock.now()
  const outcome = await deps.db.transaction().execute(async (trx) => {
    const totp = await removeTotp(trx, user.id, now, 'operator')
    const passkeys = await deletePasskeysOfUser(trx, user.id)
    if (!totp && passkeys === 0) return null
    // removeTotp mails when a TOTP factor went; passkeys alone need the notice too.
    if (!totp) await enqueueMail(trx, { template: 'mfa_removed', userId: user.id, details: { by: 'operator' } }, now)
    const factors = [...(totp ? ['totp'] : []), ...(passkeys > 0 ? ['passkey'] : [])]
    return { factors, passkeys, revoked: await endUserAccess(trx, user.id, 'mfa_reset', { now }) }
  })
  if (outcome === null) throw new ApiError('mfa_not_enrolled', 409, `${user.email} has no second factor`)
  await auditAdminAction(deps, actor, {
    event: 'mfa.reset_by_operator',
    userId: user.id,
    details: {
      factors_removed: outcome.factors.join(' '),
      passkeys_removed: outcome.passkeys,
      sessions_revoked: outcome.revoked.length,
    },
  })
  return {
    id: user.id,
    email: user.email,
    factors_removed: outcome.factors,
    sessions_revoked: outcome.revoked.length,
  }
}
