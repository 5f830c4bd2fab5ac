import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. Booleans are 0/1 integers and timestamps epoch
// milliseconds, so SQLite and PostgreSQL agree.

export async function up(db: Kysely<any>): Promise<void> {
  // RFC 7662 §2.1: only clients registered for introspection may ask, and only about tokens
  // for one of their audiences.
  await db.schema
    .alterTable('clients')
    .addColumn('introspection', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
  // Every access-token lifetime an instance has issued with, and when it last did: a lowered
  // LATCHKEY_ACCESS_TOKEN_TTL must not shorten the revocation feed for tokens minted under the old one.
  await db.schema
    .createTable('access_token_lifetimes')
    .addColumn('ttl_ms', 'bigint', (c) => c.primaryKey())
    .addColumn('last_used_at', 'bigint', (c) => c.notNull())
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('access_token_lifetimes').execute()
  await db.schema.alterTable('clients').dropColumn('introspection').execute()
}
