import { sql, type Kysely, type Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import { userFromRow, type User } from './user.js'
import type { NewUserRow } from './user.table.js'

type Executor = Kysely<Database> | Transaction<Database>

/** Inserts unless the email is taken; true if this call created the user. */
export async function insertUserIfAbsent(db: Executor, row: NewUserRow): Promise<boolean> {
  const result = await db
    .insertInto('users')
    .values(row)
    .onConflict((oc) => oc.column('email').doNothing())
    .executeTakeFirst()
  return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1
}

export async function findUserByEmail(db: Executor, email: string): Promise<User | null> {
  const row = await db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst()
  return row ? userFromRow(row) : null
}

export async function findUserById(db: Executor, id: string): Promise<User | null> {
  const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
  return row ? userFromRow(row) : null
}

/** A new password (change or reset): sign-ins whose password check began earlier are void from `now`. */
export async function updatePasswordHash(db: Executor, id: string, passwordHash: string, now: number): Promise<void> {
  await db
    .updateTable('users')
    .set({ password_hash: passwordHash, credentials_changed_at: now, updated_at: now })
    .where('id', '=', id)
    .execute()
}

/**
 * The same password under new argon2 parameters, written only if the hash is still the one that
 * was verified (compare-and-set, finding F2): a password changed meanwhile is never overwritten.
 * True if it was written.
 */
export async function replacePasswordHashIfUnchanged(
  db: Executor,
  id: string,
  hashes: { verified: string; rehashed: string },
  now: number,
): Promise<boolean> {
  const result = await db
    .updateTable('users')
    .set({ password_hash: hashes.rehashed, updated_at: now })
    .where('id', '=', id)
    .where('password_hash', '=', hashes.verified)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) > 0
}

/**
 * Reads the user inside a transaction that is about to start a sign-in, locking the row on
 * PostgreSQL (FOR UPDATE) so a password change, reset or cut-off either commits before this read
 * or waits until the sign-in has committed; SQLite runs one write transaction at a time, and
 * only write transactions call this, so the same holds there.
 */
export async function findUserForSignin(trx: Transaction<Database>, id: string, lock: boolean): Promise<User | null> {
  let query = trx.selectFrom('users').selectAll().where('id', '=', id)
  if (lock) query = query.forUpdate()
  const row = await query.executeTakeFirst()
  return row ? userFromRow(row) : null
}

/** Voids every access token of the user issued before `now` (logout-all, disable, password reset). */
export async function cutOffUserTokens(db: Executor, id: string, now: number): Promise<void> {
  await db.updateTable('users').set({ tokens_valid_after: now, updated_at: now }).where('id', '=', id).execute()
}

/** False if there is no such user or it was erased: an erased account stays disabled for good. */
export async function setUserDisabled(db: Executor, id: string, now: number, disabled = true): Promise<boolean> {
  const result = await db
    .updateTable('users')
    .set({ disabled: disabled ? 1 : 0, updated_at: now })
    .where('id', '=', id)
    .where('erased_at', 'is', null)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) > 0
}

/**
 * Removes a user's personal data (GDPR art. 17) and keeps the row, whose random id audit rows
 * point to as a pseudonym: the email becomes a placeholder no address can equal (it has no @),
 * the name and password hash are cleared, and the account is disabled for good.
 */
export async function eraseUser(db: Executor, id: string, now: number): Promise<void> {
  await db
    .updateTable('users')
    .set({
      email: `erased:${id}`,
      name: null,
      password_hash: '',
      email_verified: 0,
      disabled: 1,
      erased_at: now,
      updated_at: now,
    })
    .where('id', '=', id)
    .execute()
}

/** Users (not erased) whose email starts with `emailPrefix`, oldest first, after a keyset cursor. */
export async function searchUsers(
  db: Executor,
  filter: { emailPrefix?: string; disabled?: boolean },
  page: { limit: number; after: { createdAt: number; id: string } | null },
): Promise<User[]> {
  let query = db.selectFrom('users').selectAll().where('erased_at', 'is', null)
  if (filter.emailPrefix !== undefined) {
    // LIKE's wildcards in the prefix are matched literally.
    const escaped = filter.emailPrefix.replace(/[\\%_]/g, (c) => `\\${c}`)
    query = query.where(sql<boolean>`email like ${`${escaped}%`} escape '\\'`)
  }
  if (filter.disabled !== undefined) query = query.where('disabled', '=', filter.disabled ? 1 : 0)
  const after = page.after
  if (after !== null)
    query = query.where((eb) =>
      eb.or([
        eb('created_at', '>', after.createdAt),
        eb.and([eb('created_at', '=', after.createdAt), eb('id', '>', after.id)]),
      ]),
    )
  const rows = await query.orderBy('created_at').orderBy('id').limit(page.limit).execute()
  return rows.map(userFromRow)
}

/** Users whose token cut-off is later than `after` (epoch ms), for the revocation feed. */
export async function findUserCutOffsAfter(
  db: Executor,
  after: number,
): Promise<Array<{ id: string; tokensValidAfter: number }>> {
  const rows = await db
    .selectFrom('users')
    .select(['id', 'tokens_valid_after'])
    .where('tokens_valid_after', '>', after)
    .execute()
  return rows.map((r) => ({ id: r.id, tokensValidAfter: Number(r.tokens_valid_after) }))
}

/** Marks the address verified if it is still the user's; true if it is. */
export async function markEmailVerified(db: Executor, id: string, email: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('users')
    .set({ email_verified: 1, updated_at: now })
    .where('id', '=', id)
    .where('email', '=', email)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) > 0
}

/**
 * Up to `limit` stored password hashes from a run of users starting at a random id (ids are
 * random, so the run is a fair sample), read through the primary key: cheap on any table size.
 */
export async function samplePasswordHashes(db: Executor, startId: string, limit: number): Promise<string[]> {
  const from = await db
    .selectFrom('users')
    .select('password_hash')
    .where('id', '>=', startId)
    .where('erased_at', 'is', null)
    .orderBy('id')
    .limit(limit)
    .execute()
  const rest =
    from.length >= limit
      ? []
      : await db
          .selectFrom('users')
          .select('password_hash')
          .where('id', '<', startId)
          .where('erased_at', 'is', null)
          .orderBy('id')
          .limit(limit - from.length)
          .execute()
  return [...from, ...rest].map((r) => r.password_hash)
}
