import type { Db } from '../db/database.js'
import { clientFromRow, type Client } from './client.js'
import type { NewClientRow } from './client.table.js'

export async function insertClient(db: Db, row: NewClientRow): Promise<void> {
  await db.insertInto('clients').values(row).execute()
}

export async function findClientById(db: Db, id: string): Promise<Client | null> {
  const row = await db.selectFrom('clients').selectAll().where('id', '=', id).executeTakeFirst()
  return row ? clientFromRow(row) : null
}

export async function listClients(db: Db): Promise<Client[]> {
  const rows = await db.selectFrom('clients').selectAll().orderBy('created_at').orderBy('id').execute()
  return rows.map(clientFromRow)
}

export async function deleteClient(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom('clients').where('id', '=', id).executeTakeFirst()
  return Number(result.numDeletedRows) === 1
}
