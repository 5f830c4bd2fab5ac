import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. Booleans are 0/1 integers and timestamps epoch
// milliseconds, so SQLite and PostgreSQL agree.

export async function up(db: Kysely<any>): Promise<void> {
  // RFC 9449 §5.2 (dpop_bound_access_tokens): the client's token requests must carry a DPoP proof.
  await db.schema
    .alterTable('clients')
    .addColumn('require_dpop', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
  // RFC 9449 §5: a public client's refresh tokens are bound to the key its first proof used
  // (RFC 7638 thumbprint); null for an unbound family.
  await db.schema.alterTable('sessions').addColumn('dpop_jkt', 'varchar(64)').execute()
  // RFC 9449 §11.1: proof jtis seen recently, when no Redis is configured (shared by every instance).
  await db.schema
    .createTable('dpop_proof_jtis')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('dpop_proof_jtis_expires_at').on('dpop_proof_jtis').column('expires_at').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('dpop_proof_jtis').execute()
  await db.schema.alterTable('sessions').dropColumn('dpop_jkt').execute()
  await db.schema.alterTable('clients').dropColumn('require_dpop').execute()
}
