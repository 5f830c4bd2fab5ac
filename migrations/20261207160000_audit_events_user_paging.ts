import type { Kysely } from 'kysely'

// Frozen in time: never import from server/.

export async function up(db: Kysely<any>): Promise<void> {
  // A user's audit events are read newest first by (created_at, id) keyset pages (the export, the
  // admin API's ?user= filter): one index serves the filter and the order, read backwards. It
  // covers what audit_events_user_id did.
  await db.schema
    .createIndex('audit_events_user_id_created_at_id')
    .on('audit_events')
    .columns(['user_id', 'created_at', 'id'])
    .execute()
  await db.schema.dropIndex('audit_events_user_id').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('audit_events_user_id').on('audit_events').column('user_id').execute()
  await db.schema.dropIndex('audit_events_user_id_created_at_id').execute()
}
