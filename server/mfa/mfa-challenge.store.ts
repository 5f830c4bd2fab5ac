import { sql, type Kysely, type Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import type { MfaChallengeRow } from './mfa.table.js'

type Executor = Kysely<Database> | Transaction<Database>

/** A sign-in waiting for its second step, as stored. */
export interface MfaChallenge {
  userId: string
  amr: string[]
  authTime: number
  failures: number
  expiresAt: number
  usedAt: number | null
}

function challengeFromRow(row: MfaChallengeRow): MfaChallenge {
  return {
    userId: row.user_id,
    amr: JSON.parse(row.amr) as string[],
    authTime: row.auth_time,
    failures: row.failures,
    expiresAt: row.expires_at,
    usedAt: row.used_at,
  }
}

export async function insertMfaChallenge(
  db: Executor,
  challenge: { tokenHash: string; userId: string; amr: string[]; authTime: number; now: number; expiresAt: number },
): Promise<void> {
  await db
    .insertInto('mfa_challenges')
    .values({
      token_hash: challenge.tokenHash,
      user_id: challenge.userId,
      amr: JSON.stringify(challenge.amr),
      auth_time: challenge.authTime,
      failures: 0,
      created_at: challenge.now,
      expires_at: challenge.expiresAt,
      used_at: null,
    })
    .execute()
}

export async function findMfaChallenge(db: Executor, tokenHash: string): Promise<MfaChallenge | null> {
  const row = await db.selectFrom('mfa_challenges').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst()
  return row ? challengeFromRow(row) : null
}

/** Counts one wrong code; returns the failures now counted. */
export async function countMfaChallengeFailure(db: Executor, tokenHash: string): Promise<number> {
  const row = await db
    .updateTable('mfa_challenges')
    .set({ failures: sql<number>`failures + 1` })
    .where('token_hash', '=', tokenHash)
    .returning('failures')
    .executeTakeFirst()
  return row?.failures ?? 0
}

/**
 * Uses the challenge up if it is still live (unused, unexpired, fewer than `maxFailures` wrong
 * codes): one conditional UPDATE, so it finishes at most one sign-in.
 */
export async function consumeMfaChallenge(
  db: Executor,
  tokenHash: string,
  now: number,
  maxFailures: number,
): Promise<boolean> {
  const result = await db
    .updateTable('mfa_challenges')
    .set({ used_at: now })
    .where('token_hash', '=', tokenHash)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .where('failures', '<', maxFailures)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

export async function deleteMfaChallengesOfUser(db: Executor, userId: string): Promise<void> {
  await db.deleteFrom('mfa_challenges').where('user_id', '=', userId).execute()
}

/** Housekeeping: challenges past their life are of no use to anyone. */
/** Deletes up to `limit` expired second-step challenges (a batch of the maintenance job). */
export async function deleteExpiredMfaChallenges(db: Executor, now: number, limit: number): Promise<number> {
  const batch = db.selectFrom('mfa_challenges').select('token_hash').where('expires_at', '<=', now).limit(limit)
  const result = await db.deleteFrom('mfa_challenges').where('token_hash', 'in', batch).executeTakeFirst()
  return Number(result.numDeletedRows)
}
