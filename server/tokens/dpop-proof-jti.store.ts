import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'

type Executor = Kysely<Database> | Transaction<Database>

/**
 * Records a proof's jti until `expiresAt`; false if it is already recorded and not expired (a
 * replay). The primary key makes this atomic across instances sharing the database.
 */
export async function claimDpopProofJti(db: Executor, id: string, expiresAt: number, now: number): Promise<boolean> {
  const inserted = await db
    .insertInto('dpop_proof_jtis')
    .values({ id, expires_at: expiresAt })
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst()
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return true
  // A row left over from an expired proof (not yet purged) may be taken over.
  const updated = await db
    .updateTable('dpop_proof_jtis')
    .set({ expires_at: expiresAt })
    .where('id', '=', id)
    .where('expires_at', '<=', now)
    .executeTakeFirst()
  return Number(updated.numUpdatedRows) > 0
}

export async function deleteExpiredDpopProofJtis(db: Executor, now: number, limit: number): Promise<number> {
  const result = await db
    .deleteFrom('dpop_proof_jtis')
    .where('id', 'in', (q) => q.selectFrom('dpop_proof_jtis').select('id').where('expires_at', '<=', now).limit(limit))
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
