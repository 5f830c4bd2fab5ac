import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import type { Passkey } from './passkey.js'
import type { PasskeyRow } from './passkey.table.js'

type Executor = Kysely<Database> | Transaction<Database>

function passkeyFromRow(row: PasskeyRow): Passkey {
  return {
    id: row.id,
    userId: row.user_id,
    credentialId: row.credential_id,
    publicKey: new Uint8Array(Buffer.from(row.public_key, 'base64url')),
    signCount: Number(row.sign_count),
    transports: JSON.parse(row.transports) as string[],
    backupEligible: row.backup_eligible === 1,
    backedUp: row.backed_up === 1,
    name: row.name,
    createdAt: Number(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
  }
}

export async function insertPasskey(db: Executor, passkey: Passkey): Promise<void> {
  await db
    .insertInto('passkeys')
    .values({
      id: passkey.id,
      user_id: passkey.userId,
      credential_id: passkey.credentialId,
      public_key: Buffer.from(passkey.publicKey).toString('base64url'),
      sign_count: passkey.signCount,
      transports: JSON.stringify(passkey.transports),
      backup_eligible: passkey.backupEligible ? 1 : 0,
      backed_up: passkey.backedUp ? 1 : 0,
      name: passkey.name,
      created_at: passkey.createdAt,
      last_used_at: passkey.lastUsedAt,
    })
    .execute()
}

export async function findPasskeyByCredentialId(db: Executor, credentialId: string): Promise<Passkey | null> {
  const row = await db.selectFrom('passkeys').selectAll().where('credential_id', '=', credentialId).executeTakeFirst()
  return row ? passkeyFromRow(row) : null
}

export async function findPasskeysOfUser(db: Executor, userId: string): Promise<Passkey[]> {
  const rows = await db
    .selectFrom('passkeys')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .orderBy('id')
    .execute()
  return rows.map(passkeyFromRow)
}

/**
 * Records a use: the new signature counter and backup state. Only if the stored counter is still
 * the one the assertion was checked against, so two instances verifying concurrent assertions
 * cannot both move it (the loser is refused like a regression). False when nothing was updated.
 */
export async function recordPasskeyUse(
  db: Executor,
  passkey: Pick<Passkey, 'id' | 'signCount'>,
  use: { signCount: number; backedUp: boolean; now: number },
): Promise<boolean> {
  const result = await db
    .updateTable('passkeys')
    .set({ sign_count: use.signCount, backed_up: use.backedUp ? 1 : 0, last_used_at: use.now })
    .where('id', '=', passkey.id)
    .where('sign_count', '=', passkey.signCount)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

/** Deletes one of the user's passkeys; false when the user has no passkey with that id. */
export async function deletePasskey(db: Executor, userId: string, id: string): Promise<Passkey | null> {
  const row = await db
    .selectFrom('passkeys')
    .selectAll()
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .executeTakeFirst()
  if (!row) return null
  const result = await db.deleteFrom('passkeys').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst()
  return Number(result.numDeletedRows) === 1 ? passkeyFromRow(row) : null
}

/** Deletes every passkey of a user (an operator's reset of the second factors); returns how many. */
export async function deletePasskeysOfUser(db: Executor, userId: string): Promise<number> {
  const result = await db.deleteFrom('passkeys').where('user_id', '=', userId).executeTakeFirst()
  return Number(result.numDeletedRows)
}
