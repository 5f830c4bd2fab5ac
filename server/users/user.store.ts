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

export async function updatePasswordHash(db: Executor, id: string, passwordHash: string, now: number): Promise<void> {
  await db.updateTable('users').set({ password_hash: passwordHash, updated_at: now }).where('id', '=', id).execute()
}

/** Voids every access token of the user issued before `now` (logout-all, disable, password reset). */
export async function cutOffUserTokens(db: Executor, id: string, now: number): Promise<void> {
  await db.updateTable('users').set({ tokens_valid_after: now, updated_at: now }).where('id', '=', id).execute()
}

export async function setUserDisabled(db: Executor, id: string, now: number, disabled = true): Promise<void> {
  await db
    .updateTable('users')
    .set({ disabled: disabled ? 1 : 0, updated_at: now })
    .where('id', '=', id)
    .execute()
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
