import type { Kysely, Transaction } from 'kysely'
import type { Database, Db } from '../db/database.js'
import type { SigninSessionRow } from './signin-session.table.js'

export async function insertSigninSession(db: Db, row: Omit<SigninSessionRow, 'revoked_at'>): Promise<void> {
  await db
    .insertInto('signin_sessions')
    .values({ ...row, revoked_at: null })
    .execute()
}

export async function findSigninSessionByHash(db: Db, tokenHash: string): Promise<SigninSessionRow | null> {
  return (
    (await db.selectFrom('signin_sessions').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst()) ?? null
  )
}

export async function revokeSigninSession(db: Db, id: string, now: number): Promise<void> {
  await db
    .updateTable('signin_sessions')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .execute()
}

/** Moves a live sign-in's expiry (idle timeout bumped on use). */
export async function extendSigninSession(db: Db, id: string, expiresAt: number): Promise<void> {
  await db
    .updateTable('signin_sessions')
    .set({ expires_at: expiresAt })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .execute()
}

/** Ends every hosted sign-in of a user (a password change: a sign-in made with the old password must not outlive it). */
export async function revokeSigninSessionsOfUser(
  db: Kysely<Database> | Transaction<Database>,
  userId: string,
  now: number,
): Promise<void> {
  await db
    .updateTable('signin_sessions')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .execute()
}
