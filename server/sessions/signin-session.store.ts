import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import type { SigninSessionRow } from './signin-session.table.js'

type Executor = Kysely<Database> | Transaction<Database>

/** A hosted sign-in as stored: who signed in at Latchkey's pages in one browser, and how. */
export interface StoredSignin {
  id: string
  userId: string
  amr: string[]
  authTime: number
  createdAt: number
  expiresAt: number
  revokedAt: number | null
}

function signinFromRow(row: SigninSessionRow): StoredSignin {
  return {
    id: row.id,
    userId: row.user_id,
    amr: JSON.parse(row.amr) as string[],
    authTime: row.auth_time,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  }
}

export async function insertSigninSession(
  db: Executor,
  signin: Omit<StoredSignin, 'revokedAt'> & { tokenHash: string },
): Promise<void> {
  await db
    .insertInto('signin_sessions')
    .values({
      id: signin.id,
      user_id: signin.userId,
      token_hash: signin.tokenHash,
      amr: JSON.stringify(signin.amr),
      auth_time: signin.authTime,
      created_at: signin.createdAt,
      expires_at: signin.expiresAt,
      revoked_at: null,
    })
    .execute()
}

export async function findSigninSessionByHash(db: Executor, tokenHash: string): Promise<StoredSignin | null> {
  const row = await db.selectFrom('signin_sessions').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst()
  return row ? signinFromRow(row) : null
}

export async function revokeSigninSession(db: Executor, id: string, now: number): Promise<void> {
  await db
    .updateTable('signin_sessions')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .execute()
}

/** Moves a live sign-in's expiry (idle timeout bumped on use). */
export async function extendSigninSession(db: Executor, id: string, expiresAt: number): Promise<void> {
  await db
    .updateTable('signin_sessions')
    .set({ expires_at: expiresAt })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .execute()
}

/** Ends every hosted sign-in of a user (see end-user-access.ts for when). */
export async function revokeSigninSessionsOfUser(db: Executor, userId: string, now: number): Promise<void> {
  await db
    .updateTable('signin_sessions')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .execute()
}

/** Hosted sign-ins that expired or were revoked before `before`, one batch. */
export async function deleteSigninsEndedBefore(db: Executor, before: number, limit: number): Promise<number> {
  const batch = db
    .selectFrom('signin_sessions')
    .select('id')
    .where((eb) => eb.or([eb('expires_at', '<', before), eb('revoked_at', '<', before)]))
    .limit(limit)
  const result = await db.deleteFrom('signin_sessions').where('id', 'in', batch).executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** Erasure: the user's hosted sign-ins (revoked first by endUserAccess) leave no row behind. */
export async function deleteSigninSessionsOfUser(db: Executor, userId: string): Promise<void> {
  await db.deleteFrom('signin_sessions').where('user_id', '=', userId).execute()
}
