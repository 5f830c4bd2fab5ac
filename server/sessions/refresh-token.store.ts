import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import type { RefreshTokenRow, SessionRow } from './session.table.js'

type Executor = Kysely<Database> | Transaction<Database>

export interface RefreshTokenWithSession {
  token: RefreshTokenRow
  session: SessionRow
}

export async function insertRefreshToken(db: Executor, row: { id: string; session_id: string; token_hash: string; created_at: number; idle_expires_at: number }): Promise<void> {
  await db.insertInto('refresh_tokens').values({ ...row, used_at: null, successor_id: null, successor_encrypted: null, grace_until: null }).execute()
}

export async function findRefreshTokenByHash(db: Executor, tokenHash: string): Promise<RefreshTokenWithSession | null> {
  const token = await db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst()
  if (!token) return null
  const session = await db.selectFrom('sessions').selectAll().where('id', '=', token.session_id).executeTakeFirstOrThrow()
  return { token, session }
}

/**
 * Marks a refresh token used and records its successor, only if nobody did so first: of any
 * number of concurrent rotations exactly one sees `true` (on PostgreSQL the row lock makes the
 * losers re-check `used_at is null` after the winner commits).
 */
export async function claimRefreshToken(
  db: Executor,
  id: string,
  claim: { usedAt: number; successorId: string; successorEncrypted: string | null; graceUntil: number | null },
): Promise<boolean> {
  const result = await db
    .updateTable('refresh_tokens')
    .set({ used_at: claim.usedAt, successor_id: claim.successorId, successor_encrypted: claim.successorEncrypted, grace_until: claim.graceUntil })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

export async function findRefreshTokenById(db: Executor, id: string): Promise<RefreshTokenRow | null> {
  return (await db.selectFrom('refresh_tokens').selectAll().where('id', '=', id).executeTakeFirst()) ?? null
}

/** Grace-window successors are only kept while the window is open. */
export async function eraseExpiredSuccessors(db: Executor, now: number): Promise<void> {
  await db.updateTable('refresh_tokens').set({ successor_encrypted: null }).where('grace_until', '<=', now).where('successor_encrypted', 'is not', null).execute()
}
