import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import { sessionFromRow, type Session } from './session.js'
import type { NewSessionRow } from './session.table.js'
import { compiledOnce } from '../db/compiled-once.js'

type Executor = Kysely<Database> | Transaction<Database>

export async function insertSession(db: Executor, row: NewSessionRow): Promise<void> {
  await db.insertInto('sessions').values(row).execute()
}

/** Sets the HMAC key of a session's refresh-token family (once, as its first token is issued). */
export async function setSessionRefreshKey(db: Executor, id: string, key: string): Promise<void> {
  await db.updateTable('sessions').set({ refresh_key: key }).where('id', '=', id).execute()
}

// Both run on every refresh rotation: compiled once (issue 15).
const findRefreshKeyQuery = compiledOnce((db, id: string) =>
  db.selectFrom('sessions').select('refresh_key').where('id', '=', id),
)
const findSessionQuery = compiledOnce((db, id: string) => db.selectFrom('sessions').selectAll().where('id', '=', id))

export async function findSessionRefreshKey(db: Executor, id: string): Promise<string | null> {
  const { rows } = await findRefreshKeyQuery(db, id)
  return rows[0]?.refresh_key ?? null
}

export async function findSessionById(db: Executor, id: string): Promise<Session | null> {
  const { rows } = await findSessionQuery(db, id)
  return rows[0] ? sessionFromRow(rows[0]) : null
}

/**
 * When a session ends on its own, in epoch ms: its absolute expiry, or sooner its idle expiry (that
 * of its newest refresh token, after which it can no longer be refreshed). Null for no session.
 */
export async function findSessionEnd(db: Executor, id: string): Promise<number | null> {
  const row = await db
    .selectFrom('sessions')
    .select((eb) => [
      'sessions.expires_at',
      eb
        .selectFrom('refresh_tokens')
        .select((inner) => inner.fn.max('refresh_tokens.idle_expires_at').as('idle'))
        .whereRef('refresh_tokens.session_id', '=', 'sessions.id')
        .as('idle_expires_at'),
    ])
    .where('sessions.id', '=', id)
    .executeTakeFirst()
  if (!row) return null
  const idle = row.idle_expires_at === null ? Infinity : Number(row.idle_expires_at)
  return Math.min(Number(row.expires_at), idle)
}

export async function findLiveSessionsOfUser(db: Executor, userId: string, now: number): Promise<Session[]> {
  const rows = await db
    .selectFrom('sessions')
    .selectAll()
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .orderBy('created_at', 'desc')
    .execute()
  return rows.map(sessionFromRow)
}

/** Revokes one session (and so its refresh-token family); true if it was live. */
export async function revokeSession(db: Executor, id: string, reason: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) > 0
}

/** Revokes every live session of a user, optionally sparing one; returns the ids revoked. */
export async function revokeSessionsOfUser(
  db: Executor,
  userId: string,
  reason: string,
  now: number,
  except?: string,
): Promise<string[]> {
  let query = db
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
  if (except !== undefined) query = query.where('id', '!=', except)
  const rows = await query.returning('id').execute()
  return rows.map((r) => r.id)
}

/** Revokes the live sessions a user holds with one client (consent withdrawn); returns the ids revoked. */
export async function revokeSessionsOfUserAndClient(
  db: Executor,
  userId: string,
  clientId: string,
  reason: string,
  now: number,
): Promise<string[]> {
  const rows = await db
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('user_id', '=', userId)
    .where('client_id', '=', clientId)
    .where('revoked_at', 'is', null)
    .returning('id')
    .execute()
  return rows.map((r) => r.id)
}

/** Revokes the live sessions a hosted sign-in opened (RP-initiated logout); returns the ids revoked. */
export async function revokeSessionsOfSignin(
  db: Executor,
  signinSessionId: string,
  reason: string,
  now: number,
): Promise<string[]> {
  const rows = await db
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('signin_session_id', '=', signinSessionId)
    .where('revoked_at', 'is', null)
    .returning('id')
    .execute()
  return rows.map((r) => r.id)
}

/** Revokes every live session held with a client (the client is deleted); returns the ids revoked. */
export async function revokeSessionsOfClient(
  db: Executor,
  clientId: string,
  reason: string,
  now: number,
): Promise<string[]> {
  const rows = await db
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('client_id', '=', clientId)
    .where('revoked_at', 'is', null)
    .returning('id')
    .execute()
  return rows.map((r) => r.id)
}

/** A user's sessions, newest first, revoked ones included (the admin API and the export). */
export async function findSessionsOfUser(db: Executor, userId: string): Promise<Session[]> {
  const rows = await db
    .selectFrom('sessions')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute()
  return rows.map(sessionFromRow)
}

export async function touchSession(db: Executor, id: string, now: number): Promise<void> {
  await db.updateTable('sessions').set({ last_used_at: now }).where('id', '=', id).execute()
}

/** Sessions revoked after `after` (epoch ms), with their user, for the revocation feed. */
export async function findSessionsRevokedAfter(
  db: Executor,
  after: number,
): Promise<Array<{ id: string; userId: string; revokedAt: number }>> {
  const rows = await db
    .selectFrom('sessions')
    .select(['id', 'user_id', 'revoked_at'])
    .where('revoked_at', '>', after)
    .execute()
  return rows.map((r) => ({ id: r.id, userId: r.user_id, revokedAt: Number(r.revoked_at) }))
}

/**
 * Sessions that ended (expired or revoked) before `before`, one batch. The caller keeps them while
 * an access token issued under them may still be presented; their refresh tokens go with them
 * (ON DELETE CASCADE).
 */
export async function deleteSessionsEndedBefore(db: Executor, before: number, limit: number): Promise<number> {
  const batch = db
    .selectFrom('sessions')
    .select('id')
    .where((eb) => eb.or([eb('expires_at', '<', before), eb('revoked_at', '<', before)]))
    .limit(limit)
  const result = await db.deleteFrom('sessions').where('id', 'in', batch).executeTakeFirst()
  return Number(result.numDeletedRows)
}

/**
 * Erasure: the user's sessions keep their ids (the revocation feed lists them by sid until their
 * tokens expire) but lose where they were made from.
 */
export async function forgetSessionOriginsOfUser(db: Executor, userId: string): Promise<void> {
  await db.updateTable('sessions').set({ ip: null, user_agent: null }).where('user_id', '=', userId).execute()
}
