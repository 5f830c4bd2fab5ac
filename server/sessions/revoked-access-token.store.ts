import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'

type Executor = Kysely<Database> | Transaction<Database>

export interface RevokedAccessToken {
  jti: string
  expiresAt: number
  revokedAt: number
}

/** RFC 7009: an access token revoked by its client stays refused until it expires. */
export async function revokeAccessToken(db: Executor, token: RevokedAccessToken): Promise<void> {
  await db
    .insertInto('revoked_access_tokens')
    .values({ jti: token.jti, expires_at: token.expiresAt, revoked_at: token.revokedAt })
    .onConflict((oc) => oc.column('jti').doNothing())
    .execute()
}

export async function isAccessTokenRevoked(db: Executor, jti: string): Promise<boolean> {
  return (
    (await db.selectFrom('revoked_access_tokens').select('jti').where('jti', '=', jti).executeTakeFirst()) !== undefined
  )
}

/** Access tokens revoked one by one whose expiry is later than `after` (epoch ms). */
export async function findRevokedAccessTokensExpiringAfter(db: Executor, after: number): Promise<RevokedAccessToken[]> {
  const rows = await db
    .selectFrom('revoked_access_tokens')
    .select(['jti', 'expires_at', 'revoked_at'])
    .where('expires_at', '>', after)
    .execute()
  return rows.map((r) => ({ jti: r.jti, expiresAt: Number(r.expires_at), revokedAt: Number(r.revoked_at) }))
}

/** Forgets revoked access tokens whose expiry is at or before `before` (epoch ms). */
export async function deleteRevokedAccessTokensExpiredBy(db: Executor, before: number, limit: number): Promise<number> {
  const batch = db.selectFrom('revoked_access_tokens').select('jti').where('expires_at', '<=', before).limit(limit)
  const result = await db.deleteFrom('revoked_access_tokens').where('jti', 'in', batch).executeTakeFirst()
  return Number(result.numDeletedRows)
}

/**
 * Access tokens revoked after `revokedAfter` whose expiry is later than `expiringAfter` (epoch ms),
 * for the revocation feed's reads between full ones.
 */
export async function findAccessTokensRevokedAfter(
  db: Executor,
  revokedAfter: number,
  expiringAfter: number,
): Promise<RevokedAccessToken[]> {
  const rows = await db
    .selectFrom('revoked_access_tokens')
    .select(['jti', 'expires_at', 'revoked_at'])
    .where('revoked_at', '>', revokedAfter)
    .where('expires_at', '>', expiringAfter)
    .execute()
  return rows.map((r) => ({ jti: r.jti, expiresAt: Number(r.expires_at), revokedAt: Number(r.revoked_at) }))
}
