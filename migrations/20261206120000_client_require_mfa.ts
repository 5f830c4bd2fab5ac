import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. Booleans are 0/1 integers.

export async function up(db: Kysely<any>): Promise<void> {
  // 1: the client gets authorization codes only for sign-ins that completed a second factor.
  await db.schema
    .alterTable('clients')
    .addColumn('require_mfa', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').dropColumn('require_mfa').execute()
}
