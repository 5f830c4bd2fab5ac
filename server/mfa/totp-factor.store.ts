import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import type { TotpFactorRow } from './mfa.table.js'

type Executor = Kysely<Database> | Transaction<Database>

export interface TotpFactor {
  userId: string
  secretSealed: string
  createdAt: number
  confirmedAt: number | null
  lastUsedStep: number | null
}

function factorFromRow(row: TotpFactorRow): TotpFactor {
  return {
    userId: row.user_id,
    secretSealed: row.secret_sealed,
    createdAt: row.created_at,
    confirmedAt: row.confirmed_at,
    lastUsedStep: row.last_used_step,
  }
}

export async function findTotpFactor(db: Executor, userId: string): Promise<TotpFactor | null> {
  const row = await db.selectFrom('totp_factors').selectAll().where('user_id', '=', userId).executeTakeFirst()
  return row ? factorFromRow(row) : null
}

/** A new unconfirmed factor replaces an earlier unconfirmed one; false if a confirmed one exists. */
export async function savePendingTotpFactor(
  db: Executor,
  userId: string,
  secretSealed: string,
  now: number,
): Promise<boolean> {
  const result = await db
    .insertInto('totp_factors')
    .values({ user_id: userId, secret_sealed: secretSealed, created_at: now, confirmed_at: null, last_used_step: null })
    .onConflict((oc) =>
      oc
        .column('user_id')
        .doUpdateSet({ secret_sealed: secretSealed, created_at: now, last_used_step: null })
        .where('totp_factors.confirmed_at', 'is', null),
    )
    .executeTakeFirst()
  return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1
}

/** Confirms a pending factor with the step of the code that proved it; false if it changed meanwhile. */
export async function confirmTotpFactor(db: Executor, userId: string, step: number, now: number): Promise<boolean> {
  const result = await db
    .updateTable('totp_factors')
    .set({ confirmed_at: now, last_used_step: step })
    .where('user_id', '=', userId)
    .where('confirmed_at', 'is', null)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

/**
 * Records `step` as used if it is newer than every step used before. One conditional UPDATE, so
 * of two instances taking the same code at once exactly one succeeds.
 */
export async function claimTotpStep(db: Executor, userId: string, step: number): Promise<boolean> {
  const result = await db
    .updateTable('totp_factors')
    .set({ last_used_step: step })
    .where('user_id', '=', userId)
    .where('confirmed_at', 'is not', null)
    .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

/** True if there was a factor (confirmed or pending) to delete. */
export async function deleteTotpFactor(db: Executor, userId: string): Promise<boolean> {
  const result = await db.deleteFrom('totp_factors').where('user_id', '=', userId).executeTakeFirst()
  return Number(result.numDeletedRows) > 0
}
