import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'

type Executor = Kysely<Database> | Transaction<Database>

export interface RevokedAccessToken {
  jti: string
  expiresAt: number
  revokedAt: number
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
export async function deleteRevokedAccessTokensExpiredBy(db: Executor, before: number): Promise<void> {
  await db.deleteFrom('revoked_access_tokens').where('expires_at', '<=', before).execute()
}
