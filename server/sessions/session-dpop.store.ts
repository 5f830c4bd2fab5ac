import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'

type Executor = Kysely<Database> | Transaction<Database>

/**
 * Binds a session's refresh-token family to a DPoP key (RFC 9449 §5). Set once: a session already
 * bound keeps its key, so of two racing binds only the first is written (read it back to know which).
 */
export async function bindSessionToDpopKey(db: Executor, sessionId: string, jkt: string): Promise<void> {
  await db
    .updateTable('sessions')
    .set({ dpop_jkt: jkt })
    .where('id', '=', sessionId)
    .where('dpop_jkt', 'is', null)
    .execute()
}

/** The thumbprint a session's refresh tokens are bound to, or null (unbound or unknown). */
export async function findSessionDpopKey(db: Executor, sessionId: string): Promise<string | null> {
  const row = await db.selectFrom('sessions').select('dpop_jkt').where('id', '=', sessionId).executeTakeFirst()
  return row?.dpop_jkt ?? null
}
