import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. Timestamps are epoch milliseconds.

export async function up(db: Kysely<any>): Promise<void> {
  // private_key_jwt (RFC 7523 §2.2): a client's public keys, either fetched from its jwks_uri or
  // registered inline (a JSON Web Key Set, public members only). At most one of the two is set.
  await db.schema.alterTable('clients').addColumn('jwks_uri', 'varchar(2000)').execute()
  await db.schema.alterTable('clients').addColumn('jwks', 'text').execute()
  // Client assertions already used (RFC 7523 §3 item 7), kept until they expire; the key is a
  // hash of client id and jti. Used when REDIS_URL is not set.
  await db.schema
    .createTable('client_assertion_jtis')
    .addColumn('jti_hash', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('client_assertion_jtis_expires_at')
    .on('client_assertion_jtis')
    .column('expires_at')
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('client_assertion_jtis').execute()
  await db.schema.alterTable('clients').dropColumn('jwks').execute()
  await db.schema.alterTable('clients').dropColumn('jwks_uri').execute()
}
