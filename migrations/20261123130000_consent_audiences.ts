import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. Booleans are 0/1 integers and timestamps epoch
// milliseconds, so SQLite and PostgreSQL agree.

export async function up(db: Kysely<any>): Promise<void> {
  // The audiences (RFC 8707 resources) a consent covers, space-separated. Consents given before
  // this column existed cover none, so each app asks once more, naming what it asks for.
  await db.schema
    .alterTable('consents')
    .addColumn('audiences', 'text', (c) => c.notNull().defaultTo(''))
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('consents').dropColumn('audiences').execute()
}
