import type { Db } from '../db/database.js'
import type { ConsentRow } from './consent.table.js'

export async function findConsent(db: Db, userId: string, clientId: string): Promise<ConsentRow | null> {
  return (await db.selectFrom('consents').selectAll().where('user_id', '=', userId).where('client_id', '=', clientId).executeTakeFirst()) ?? null
}

export async function listConsentsOfUser(db: Db, userId: string): Promise<ConsentRow[]> {
  return db.selectFrom('consents').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('client_id').execute()
}

/** Records the scopes a user granted a client, on top of what they granted before. */
export async function saveConsent(db: Db, userId: string, clientId: string, scopes: string[], now: number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom('consents').select('scope').where('user_id', '=', userId).where('client_id', '=', clientId).executeTakeFirst()
    if (!existing) {
      await trx.insertInto('consents').values({ user_id: userId, client_id: clientId, scope: scopes.join(' '), created_at: now, updated_at: now }).execute()
      return
    }
    const merged = [...new Set([...(existing.scope === '' ? [] : existing.scope.split(' ')), ...scopes])]
    await trx.updateTable('consents').set({ scope: merged.join(' '), updated_at: now }).where('user_id', '=', userId).where('client_id', '=', clientId).execute()
  })
}

export async function deleteConsent(db: Db, userId: string, clientId: string): Promise<boolean> {
  const result = await db.deleteFrom('consents').where('user_id', '=', userId).where('client_id', '=', clientId).executeTakeFirst()
  return Number(result.numDeletedRows) === 1
}
