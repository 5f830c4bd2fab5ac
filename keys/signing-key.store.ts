import type { Kysely, Transaction } from 'kysely'
import type { KeyState, KeysDatabase, NewSigningKeyRow, SigningKeyRow } from './signing-key.table.js'

type Executor = Kysely<KeysDatabase> | Transaction<KeysDatabase>

export async function findLiveKeys(db: Executor): Promise<SigningKeyRow[]> {
  return db.selectFrom('signing_keys').selectAll().where('state', '!=', 'removed').orderBy('created_at').execute()
}

export async function findAllKeys(db: Executor): Promise<SigningKeyRow[]> {
  return db.selectFrom('signing_keys').selectAll().orderBy('created_at').execute()
}

export async function insertKey(db: Executor, row: NewSigningKeyRow): Promise<void> {
  await db.insertInto('signing_keys').values(row).execute()
}

/** Moves a key from one state to another only if it is still in the expected state; true if it moved. */
export async function transitionKey(
  db: Executor,
  kid: string,
  from: KeyState,
  to: KeyState,
  changes: Partial<Pick<SigningKeyRow, 'activated_at' | 'retired_at' | 'publish_until' | 'removed_at'>> = {},
): Promise<boolean> {
  const result = await db
    .updateTable('signing_keys')
    .set({ ...changes, state: to, ...(to === 'removed' ? { private_jwk_encrypted: null } : {}) })
    .where('kid', '=', kid)
    .where('state', '=', from)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

/**
 * Runs fn in a transaction that first writes the lock row. The write comes first on purpose: on
 * PostgreSQL it takes a row lock other instances queue behind; on SQLite it takes the database
 * write lock at once, so there is no read-then-upgrade deadlock between processes.
 */
export async function withLifecycleLock<T>(
  db: Kysely<KeysDatabase>,
  now: number,
  fn: (trx: Transaction<KeysDatabase>) => Promise<T>,
): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await trx.updateTable('key_lifecycle_lock').set({ locked_at: now }).where('id', '=', 1).execute()
    return fn(trx)
  })
}
