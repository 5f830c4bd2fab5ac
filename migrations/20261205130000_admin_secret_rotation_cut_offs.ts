import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. Booleans are 0/1 integers and timestamps epoch
// milliseconds, so SQLite and PostgreSQL agree.

export async function up(db: Kysely<any>): Promise<void> {
  // Secret rotation with an overlap: the secret replaced last stays valid until its expiry.
  await db.schema.alterTable('clients').addColumn('previous_secret_hash', 'varchar(64)').execute()
  await db.schema.alterTable('clients').addColumn('previous_secret_expires_at', 'bigint').execute()
  // A deleted client's access tokens issued before cut_off_at are void; the row outlives the
  // client so introspection and the revocation feed can still refuse them.
  await db.schema
    .createTable('client_cut_offs')
    .addColumn('client_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('cut_off_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('client_cut_offs_cut_off_at').on('client_cut_offs').column('cut_off_at').execute()
  // Erasure keeps the row (its id is the pseudonym audit rows point to) without personal data.
  await db.schema.alterTable('users').addColumn('erased_at', 'bigint').execute()
  await db.schema
    .createIndex('audit_events_event_created_at')
    .on('audit_events')
    .columns(['event', 'created_at'])
    .execute()
  await db.schema.createIndex('sessions_client_id').on('sessions').column('client_id').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('sessions_client_id').execute()
  await db.schema.dropIndex('audit_events_event_created_at').execute()
  await db.schema.alterTable('users').dropColumn('erased_at').execute()
  await db.schema.dropTable('client_cut_offs').execute()
  await db.schema.alterTable('clients').dropColumn('previous_secret_expires_at').execute()
  await db.schema.alterTable('clients').dropColumn('previous_secret_hash').execute()
}
