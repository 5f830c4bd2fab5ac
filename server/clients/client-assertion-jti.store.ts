import type { Db } from '../db/database.js'

/**
 * Records a client assertion's jti hash until `expiresAt`: true only for the one caller that
 * inserts it (or takes over a row that expired and was not purged yet), so across every instance
 * sharing the database an assertion is accepted once.
 */
export async function claimAssertionJti(db: Db, jtiHash: string, expiresAt: number, now: number): Promise<boolean> {
  const result = await db
    .insertInto('client_assertion_jtis')
    .values({ jti_hash: jtiHash, expires_at: expiresAt })
    .onConflict((oc) =>
      oc.column('jti_hash').doUpdateSet({ expires_at: expiresAt }).where('client_assertion_jtis.expires_at', '<=', now),
    )
    .executeTakeFirst()
  return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1
}

/** Deletes up to `limit` expired jtis; returns how many. */
export async function deleteExpiredAssertionJtis(db: Db, now: number, limit: number): Promise<number> {
  const result = await db
    .deleteFrom('client_assertion_jtis')
    .where(
      'jti_hash',
      'in',
      db.selectFrom('client_assertion_jtis').select('jti_hash').where('expires_at', '<=', now).limit(limit),
    )
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
