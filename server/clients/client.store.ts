import type { Kysely, Transaction, Updateable } from 'kysely'
import type { Database, Db } from '../db/database.js'
import { clientFromRow, type Client } from './client.js'
import type { ClientsTable, NewClientRow } from './client.table.js'

type Executor = Kysely<Database> | Transaction<Database>

export async function insertClient(db: Db, row: NewClientRow): Promise<void> {
  await db.insertInto('clients').values(row).execute()
}

/**
 * A client with its cut-off, in one statement: the rotation that records a cut-off changes the row
 * in the same transaction, so a lookup sees both or neither.
 */
export async function findClientById(db: Db, id: string): Promise<Client | null> {
  const row = await db
    .selectFrom('clients')
    .leftJoin('client_cut_offs', 'client_cut_offs.client_id', 'clients.id')
    .selectAll('clients')
    .select('client_cut_offs.cut_off_at')
    .where('clients.id', '=', id)
    .executeTakeFirst()
  return row ? clientFromRow(row) : null
}

/** Oldest first; `after` is the last client of the previous page (keyset pagination). */
export async function listClients(
  db: Db,
  page: { limit: number; after: { createdAt: number; id: string } | null } = { limit: 10_000, after: null },
): Promise<Client[]> {
  let query = db.selectFrom('clients').selectAll()
  const after = page.after
  if (after !== null)
    query = query.where((eb) =>
      eb.or([
        eb('created_at', '>', after.createdAt),
        eb.and([eb('created_at', '=', after.createdAt), eb('id', '>', after.id)]),
      ]),
    )
  const rows = await query.orderBy('created_at').orderBy('id').limit(page.limit).execute()
  return rows.map(clientFromRow)
}

export async function updateClientRow(db: Db, id: string, changes: Updateable<ClientsTable>): Promise<Client> {
  await db.updateTable('clients').set(changes).where('id', '=', id).execute()
  const client = await findClientById(db, id)
  if (!client) throw new Error(`client ${id} vanished during an update`)
  return client
}

/** Installs a new secret hash; the one it replaces stays valid until `previousExpiresAt` (null: not at all). */
export async function replaceClientSecret(
  db: Db,
  id: string,
  secretHash: string,
  previous: { hash: string; expiresAt: number } | null,
  now: number,
): Promise<void> {
  await db
    .updateTable('clients')
    .set({
      secret_hash: secretHash,
      previous_secret_hash: previous?.hash ?? null,
      previous_secret_expires_at: previous?.expiresAt ?? null,
      updated_at: now,
    })
    .where('id', '=', id)
    .execute()
}

/**
 * Deletes a client and records its cut-off (run it in a transaction): its access tokens are void
 * from now on (introspection, the revocation feed). False if there was no such client.
 */
export async function deleteClientWithCutOff(db: Executor, id: string, now: number): Promise<boolean> {
  const result = await db.deleteFrom('clients').where('id', '=', id).executeTakeFirst()
  if (Number(result.numDeletedRows) !== 1) return false
  await cutOffClientTokens(db, id, now)
  return true
}

/**
 * Records a client cut-off at `now`: for a client that still exists (its secret ended at once),
 * its access tokens issued before now plus CLIENT_CACHE_TTL_MS are void; for a deleted one, all.
 */
export async function cutOffClientTokens(db: Executor, id: string, now: number): Promise<void> {
  await db
    .insertInto('client_cut_offs')
    .values({ client_id: id, cut_off_at: now })
    .onConflict((oc) => oc.column('client_id').doUpdateSet({ cut_off_at: now }))
    .execute()
}

/** Epoch ms before which the client's access tokens are void, or null. */
export async function findClientCutOff(db: Db, clientId: string): Promise<number | null> {
  const row = await db
    .selectFrom('client_cut_offs')
    .select('cut_off_at')
    .where('client_id', '=', clientId)
    .executeTakeFirst()
  return row ? Number(row.cut_off_at) : null
}

/** Client cut-offs later than `after` (epoch ms), for the revocation feed. */
export async function findClientCutOffsAfter(
  db: Db,
  after: number,
): Promise<Array<{ clientId: string; cutOffAt: number }>> {
  const rows = await db.selectFrom('client_cut_offs').selectAll().where('cut_off_at', '>', after).execute()
  return rows.map((r) => ({ clientId: r.client_id, cutOffAt: Number(r.cut_off_at) }))
}
