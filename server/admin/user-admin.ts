import { ApiError, NotFound } from '../errors.js'
import { enqueueMail } from '../mail/outbox.store.js'
import { removeTotp } from '../mfa/totp-enrolment.js'
import { deletePasskeysOfUser } from '../passkeys/passkey.store.js'
import { listAuditEvents } from '../audit/audit-event.store.js'
import { deleteConsentsOfUser, listConsentsOfUser } from '../consents/consent.store.js'
import { endUserAccess } from '../sessions/end-user-access.js'
import { findSessionsOfUser } from '../sessions/session.store.js'
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
    await setUserDisabled(trx, user.id, now, disabled)
    return disabled ? endUserAccess(trx, user.id, 'user_disabled', { now }) : []
  })
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
 * pointing to. Consents go too: they are about a person who no longer has an account.
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
    return ended
  })
  await auditAdminAction(deps, actor, {
    event: 'user.deleted',
    userId: user.id,
    details: { sessions_revoked: revoked.length },
  })
  return { deleted: user.id, sessions_revoked: revoked.length }
}

/** Everything stored about a user (GDPR art. 15/20), without secrets or hashes. */
export async function exportUser(deps: AdminDeps, actor: Actor, user: User) {
  const [sessions, consents, events] = await Promise.all([
    findSessionsOfUser(deps.db, user.id),
    listConsentsOfUser(deps.db, user.id),
    listAuditEvents(deps.db, { userId: user.id }, { limit: 10_000, before: null }),
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
