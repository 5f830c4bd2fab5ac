import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. Timestamps are epoch milliseconds.

/** The maximum LATCHKEY_ACCESS_TOKEN_TTL when this was written. */
const MAX_ACCESS_TOKEN_TTL_MS = 86_400_000

export async function up(db: Kysely<any>): Promise<void> {
  // A per-session HMAC key: a refresh token names its session and carries a tag made with this
  // key, so a used token pruned from refresh_tokens is still recognised as the family's (reuse),
  // while a forged token naming someone's session id is not. Null for sessions made before.
  await db.schema.alterTable('sessions').addColumn('refresh_key', 'varchar(64)').execute()

  // access_token_lifetimes began empty (20261206110000), so the access tokens minted before it by an
  // instance with a longer LATCHKEY_ACCESS_TOKEN_TTL than the one it restarted with were not
  // covered by the revocation feed. Their lifetime is unknown: assume the longest allowed (1 day)
  // as of now. A database with no session yet has no such tokens and gets no row.
  const anySession = await db.selectFrom('sessions').select('id').limit(1).executeTakeFirst()
  const longest = await db
    .selectFrom('access_token_lifetimes')
    .select('ttl_ms')
    .where('ttl_ms', '=', MAX_ACCESS_TOKEN_TTL_MS)
    .executeTakeFirst()
  if (anySession !== undefined && longest === undefined)
    await db
      .insertInto('access_token_lifetimes')
      .values({ ttl_ms: MAX_ACCESS_TOKEN_TTL_MS, last_used_at: Date.now() })
      .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  // The access_token_lifetimes row stays: it cannot be told from one an instance stamped.
  await db.schema.alterTable('sessions').dropColumn('refresh_key').execute()
}
