import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import type { ChallengePurpose } from './passkey.table.js'

type Executor = Kysely<Database> | Transaction<Database>

export async function insertChallenge(
  db: Executor,
  challenge: { challenge: string; purpose: ChallengePurpose; userId: string | null; now: number; ttlMs: number },
): Promise<void> {
  // Expired challenges are swept as new ones are made: the table stays as small as the traffic
  // of the last few minutes.
  await db.deleteFrom('webauthn_challenges').where('expires_at', '<=', challenge.now).execute()
  await db
    .insertInto('webauthn_challenges')
    .values({
      challenge: challenge.challenge,
      purpose: challenge.purpose,
      user_id: challenge.userId,
      created_at: challenge.now,
      expires_at: challenge.now + challenge.ttlMs,
    })
    .execute()
}

/**
 * Takes a challenge out of the table: true only for the one caller that deletes a live challenge
 * of this purpose (and user), so a challenge is good once, across every instance.
 */
export async function consumeChallenge(
  db: Executor,
  challenge: { challenge: string; purpose: ChallengePurpose; userId: string | null; now: number },
): Promise<boolean> {
  let query = db
    .deleteFrom('webauthn_challenges')
    .where('challenge', '=', challenge.challenge)
    .where('purpose', '=', challenge.purpose)
    .where('expires_at', '>', challenge.now)
  query = challenge.userId === null ? query.where('user_id', 'is', null) : query.where('user_id', '=', challenge.userId)
  const result = await query.executeTakeFirst()
  return Number(result.numDeletedRows) === 1
}

/** Erasure: a user's outstanding registration and sign-in challenges go with the account. */
export async function deleteChallengesOfUser(db: Executor, userId: string): Promise<void> {
  await db.deleteFrom('webauthn_challenges').where('user_id', '=', userId).execute()
}
