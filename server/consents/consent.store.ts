import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import type { ConsentRow } from './consent.table.js'

type Executor = Kysely<Database> | Transaction<Database>

/** What a user allowed one client: scopes and audiences accumulate over consents. */
export interface Consent {
  userId: string
  clientId: string
  scopes: string[]
  audiences: string[]
  createdAt: number
  updatedAt: number
}

function consentFromRow(row: ConsentRow): Consent {
  return {
    userId: row.user_id,
    clientId: row.client_id,
    scopes: splitList(row.scope),
    audiences: splitList(row.audiences),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

export async function findConsent(db: Executor, userId: string, clientId: string): Promise<Consent | null> {
  const row = await db
    .selectFrom('consents')
    .selectAll()
    .where('user_id', '=', userId)
    .where('client_id', '=', clientId)
    .executeTakeFirst()
  return row ? consentFromRow(row) : null
}

export async function listConsentsOfUser(db: Executor, userId: string): Promise<Consent[]> {
  const rows = await db
    .selectFrom('consents')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .orderBy('client_id')
    .execute()
  return rows.map(consentFromRow)
}

/** Records the scopes and audience a user granted a client, on top of what they granted before. */
export async function saveConsent(
  db: Kysely<Database>,
  userId: string,
  clientId: string,
  scopes: string[],
  audience: string,
  now: number,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('consents')
      .select(['scope', 'audiences'])
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .executeTakeFirst()
    if (!existing) {
      await trx
        .insertInto('consents')
        .values({
          user_id: userId,
          client_id: clientId,
          scope: scopes.join(' '),
          audiences: audience,
          created_at: now,
          updated_at: now,
        })
        .execute()
      return
    }
    const scope = [...new Set([...splitList(existing.scope), ...scopes])].join(' ')
    const audiences = [...new Set([...splitList(existing.audiences), audience])].join(' ')
    await trx
      .updateTable('consents')
      .set({ scope, audiences, updated_at: now })
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .execute()
  })
}

export async function deleteConsent(db: Executor, userId: string, clientId: string): Promise<boolean> {
  const result = await db
    .deleteFrom('consents')
    .where('user_id', '=', userId)
    .where('client_id', '=', clientId)
    .executeTakeFirst()
  return Number(result.numDeletedRows) === 1
}

/** A stored space-separated list. */
function splitList(text: string): string[] {
  return text === '' ? [] : text.split(' ')
}

/** Every consent of a user (erasure). */
export async function deleteConsentsOfUser(db: Executor, userId: string): Promise<void> {
  await db.deleteFrom('consents').where('user_id', '=', userId).execute()
}
