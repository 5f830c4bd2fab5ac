import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import type { AuthorizationCodeRow, NewAuthorizationCodeRow } from './authorization-code.table.js'

type Executor = Kysely<Database> | Transaction<Database>

export async function insertAuthorizationCode(db: Executor, row: NewAuthorizationCodeRow): Promise<void> {
  await db.insertInto('authorization_codes').values(row).execute()
}

/**
 * Marks a code used, with the id of the session its exchange is about to open, if nobody did so
 * first, and returns it; null when it was already used or does not exist. Of any number of
 * concurrent exchanges exactly one gets the row.
 */
export async function claimAuthorizationCode(
  db: Executor,
  codeHash: string,
  claim: { now: number; sessionId: string },
): Promise<AuthorizationCodeRow | null> {
  const row = await db
    .updateTable('authorization_codes')
    .set({ used_at: claim.now, session_id: claim.sessionId })
    .where('code_hash', '=', codeHash)
    .where('used_at', 'is', null)
    .returningAll()
    .executeTakeFirst()
  return row ?? null
}

/** Records a replay of a used code and returns the session its first exchange opened (or is opening). */
export async function markAuthorizationCodeReplayed(
  db: Executor,
  codeHash: string,
  now: number,
): Promise<{ sessionId: string | null } | null> {
  const row = await db
    .updateTable('authorization_codes')
    .set({ replayed_at: now })
    .where('code_hash', '=', codeHash)
    .where('used_at', 'is not', null)
    .returning('session_id')
    .executeTakeFirst()
  return row ? { sessionId: row.session_id } : null
}

/** Whether a replay of the code was recorded. */
export async function isAuthorizationCodeReplayed(db: Executor, codeHash: string): Promise<boolean> {
  const row = await db
    .selectFrom('authorization_codes')
    .select('replayed_at')
    .where('code_hash', '=', codeHash)
    .executeTakeFirst()
  return row?.replayed_at != null
}

/** Expired codes are useless after their lifetime; used ones are kept as long, for replay detection. */
export async function deleteExpiredAuthorizationCodes(db: Executor, before: number): Promise<void> {
  await db.deleteFrom('authorization_codes').where('expires_at', '<', before).execute()
}
