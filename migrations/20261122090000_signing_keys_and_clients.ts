import type { Kysely } from 'kysely'

// Frozen in time: never import from server/ or keys/. Timestamps are epoch milliseconds (bigint);
// ids are generated in code; JSON lists are stored as text so SQLite and PostgreSQL agree.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'varchar(128)', (c) => c.primaryKey())
    .addColumn('alg', 'varchar(16)', (c) => c.notNull())
    .addColumn('state', 'varchar(16)', (c) => c.notNull())
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('private_jwk_encrypted', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('activated_at', 'bigint')
    .addColumn('retired_at', 'bigint')
    .addColumn('publish_until', 'bigint')
    .addColumn('removed_at', 'bigint')
    .execute()
  await db.schema.createIndex('signing_keys_state').on('signing_keys').column('state').execute()

  // One row whose update serialises key lifecycle steps across instances sharing a database.
  await db.schema
    .createTable('key_lifecycle_lock')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('locked_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.insertInto('key_lifecycle_lock').values({ id: 1, locked_at: 0 }).execute()

  await db.schema
    .createTable('clients')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(200)', (c) => c.notNull())
    .addColumn('type', 'varchar(16)', (c) => c.notNull())
    .addColumn('secret_hash', 'varchar(128)')
    .addColumn('grant_types', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('audiences', 'text', (c) => c.notNull())
    .addColumn('redirect_uris', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('clients').execute()
  await db.schema.dropTable('key_lifecycle_lock').execute()
  await db.schema.dropTable('signing_keys').execute()
}
