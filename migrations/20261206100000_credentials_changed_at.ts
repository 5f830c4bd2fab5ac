import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. Timestamps are epoch milliseconds.

export async function up(db: Kysely<any>): Promise<void> {
  // When the password was last changed or reset (not rehashed): a sign-in whose password check
  // began before it never becomes a session, a hosted sign-in or a second step.
  await db.schema
    .alterTable('users')
    .addColumn('credentials_changed_at', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('credentials_changed_at').execute()
}
