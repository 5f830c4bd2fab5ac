import { randomUUID } from 'node:crypto'
import type { ExpressionBuilder, Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import { generateOpaqueToken, hashOpaqueToken } from '../opaque-token.js'
import type { AccountTokenRow, AccountTokenTable } from './account-token.table.js'

type Executor = Kysely<Database> | Transaction<Database>

/** A live one-time link: whose, and the address it was mailed to. */
export interface AccountToken {
  userId: string
  email: string
}

const accountTokenFromRow = (row: AccountTokenRow): AccountToken => ({ userId: row.user_id, email: row.email })

export interface MintRequest {
  userId: string
  email: string
  requestedAt: number
  now: number
  ttlMs: number
}

/**
 * Makes a token (256 bits from the CSPRNG, ASVS 7.2.3) and stores its hash, replacing every
 * earlier token of the user; null when a token for a newer request already exists (that one wins).
 */
export async function mintAccountToken(
  db: Kysely<Database>,
  table: AccountTokenTable,
  request: MintRequest,
): Promise<string | null> {
  const token = generateOpaqueToken()
  // Writes first: on SQLite a transaction that reads before it writes fails at once (SQLITE_BUSY)
  // when another process wrote in between; one that starts with a write waits its turn instead.
  return db.transaction().execute(async (trx) => {
    await trx
      .deleteFrom(table)
      .where('user_id', '=', request.userId)
      .where('requested_at', '<=', request.requestedAt)
      .execute()
    const newer = await trx.selectFrom(table).select('id').where('user_id', '=', request.userId).executeTakeFirst()
    if (newer) return null
    await trx
      .insertInto(table)
      .values({
        id: randomUUID(),
        user_id: request.userId,
        token_hash: hashOpaqueToken(token),
        email: request.email,
        requested_at: request.requestedAt,
        created_at: request.now,
        expires_at: request.now + request.ttlMs,
      })
      .execute()
    return token
  })
}

/** The row of this token value, if it is unused and unexpired. */
function isLive(token: string, now: number) {
  return (eb: ExpressionBuilder<Database, AccountTokenTable>) =>
    eb.and([eb('token_hash', '=', hashOpaqueToken(token)), eb('used_at', 'is', null), eb('expires_at', '>', now)])
}

/** The unused, unexpired token with this value, if any. */
export async function findLiveAccountToken(
  db: Executor,
  table: AccountTokenTable,
  token: string,
  now: number,
): Promise<AccountToken | null> {
  const row = await db.selectFrom(table).selectAll().where(isLive(token, now)).executeTakeFirst()
  return row ? accountTokenFromRow(row) : null
}

/** Marks the token used if it still is live, in one statement: of two concurrent uses one wins. */
export async function consumeAccountToken(
  db: Executor,
  table: AccountTokenTable,
  token: string,
  now: number,
): Promise<AccountToken | null> {
  const row = await db
    .updateTable(table)
    .set({ used_at: now })
    .where(isLive(token, now))
    .returningAll()
    .executeTakeFirst()
  return row ? accountTokenFromRow(row) : null
}

export async function deleteAccountTokensOfUser(db: Executor, table: AccountTokenTable, userId: string): Promise<void> {
  await db.deleteFrom(table).where('user_id', '=', userId).execute()
}

/**
 * Deletes the tokens of whichever account has this address, if any: one statement whether or not
 * the address belongs to an account, so a request costs the same either way.
 */
export async function deleteAccountTokensOfEmail(db: Executor, table: AccountTokenTable, email: string): Promise<void> {
  await db
    .deleteFrom(table)
    .where('user_id', 'in', db.selectFrom('users').select('id').where('email', '=', email))
    .execute()
}

/** Expired tokens are useless; maintenance removes them. */
export async function deleteExpiredAccountTokens(
  db: Executor,
  table: AccountTokenTable,
  now: number,
  limit: number,
): Promise<number> {
  const batch = db.selectFrom(table).select('id').where('expires_at', '<=', now).limit(limit)
  const result = await db.deleteFrom(table).where('id', 'in', batch).executeTakeFirst()
  return Number(result.numDeletedRows)
}
