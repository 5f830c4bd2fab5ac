import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. Timestamps are epoch milliseconds.

export async function up(db: Kysely<any>): Promise<void> {
  // A per-session HMAC key: a refresh token names its session and carries a tag made with this
  // key, so a used token pruned from refresh_tokens is still recognised as the family's (reuse),
  // while a forged token naming someone's session id is not. Null for sessions made before.
  await db.schema.alterTable('sessions').addColumn('refresh_key', 'varchar(64)').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sessions').dropColumn('refresh_key').execute()
}
