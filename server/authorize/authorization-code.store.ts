import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import type { AuthorizationCodeRow, NewAuthorizationCodeRow } from './authorization-code.table.js'

type Executor = Kysely<Database> | Transaction<Database>

export async function insertAuthorizationCode(db: Executor, row: NewAuthorizationCodeRow): Promise<void> {
  await db.insertInto('authorization_codes').values(row).execute()
}

/**
 * Marks a code used if nobody did so first and returns it; null when it was already used or
 * does not exist. Of any number of concurrent exchanges exactly one gets the row.
 */
export async function claimAuthorizationCode(db: Executor, codeHash: string, now: number): Promise<AuthorizationCodeRow | null> {
  const row = await db
    .updateTable('authorization_codes')
    .set({ used_at: now })
    .where('code_hash', '=', codeHash)
    .where('used_at', 'is', null)
    .returningAll()
    .executeTakeFirst()
  return row ?? null
}

/**
 * Records a replay of a used code in one statement and returns the session its first exchange
 * opened (null if that exchange has not recorded it yet: it then sees the replay, see below).
 */
export async function markAuthorizationCodeReplayed(db: Executor, codeHash: string, now: number): Promise<{ sessionId: string | null } | null> {
  const row = await db
    .updateTable('authorization_codes')
    .set({ replayed_at: now })
    .where('code_hash', '=', codeHash)
    .where('used_at', 'is not', null)
    .returning('session_id')
    .executeTakeFirst()
  return row ? { sessionId: row.session_id } : null
}

/**
 * Records the session a code's exchange opened, in one statement that also says whether a replay
 * was recorded first: either the replay sees the session, or this sees the replay.
 */
export async function recordCodeSession(db: Executor, codeHash: string, sessionId: string): Promise<{ replayed: boolean }> {
  const row = await db
    .updateTable('authorization_codes')
    .set({ session_id: sessionId })
    .where('code_hash', '=', codeHash)
    .returning('replayed_at')
    .executeTakeFirst()
  return { replayed: row?.replayed_at != null }
}

/** Expired codes are useless after their lifetime; used ones are kept as long, for replay detection. */
export async function deleteExpiredAuthorizationCodes(db: Executor, before: number): Promise<void> {
  await db.deleteFrom('authorization_codes').where('expires_at', '<', before).execute()
}
