import type { Db } from '../db/database.js'
import type { ConsentRow } from './consent.table.js'

export async function findConsent(db: Db, userId: string, clientId: string): Promise<ConsentRow | null> {
  return (
    (await db
      .selectFrom('consents')
      .selectAll()
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .executeTakeFirst()) ?? null
  )
}

export async function listConsentsOfUser(db: Db, userId: string): Promise<ConsentRow[]> {
  return db
    .selectFrom('consents')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .orderBy('client_id')
    .execute()
}

/** Records the scopes and audience a user granted a client, on top of what they granted before. */
export async function saveConsent(
  db: Db,
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

export async function deleteConsent(db: Db, userId: string, clientId: string): Promise<boolean> {
  const result = await db
    .deleteFrom('consents')
    .where('user_id', '=', userId)
    .where('client_id', '=', clientId)
    .executeTakeFirst()
  return Number(result.numDeletedRows) === 1
}

/** A stored space-separated list. */
export function splitList(text: string): string[] {
  return text === '' ? [] : text.split(' ')
}
