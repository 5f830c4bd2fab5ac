import type { Kysely } from 'kysely'

// Frozen in time: never import from server/.

export async function up(db: Kysely<any>): Promise<void> {
  // RFC 9449 §10: the dpop_jkt of the authorization request (an RFC 7638 SHA-256 thumbprint, 43
  // characters); the code is exchanged only with a proof of that key. Null when none was given.
  await db.schema.alterTable('authorization_codes').addColumn('dpop_jkt', 'varchar(64)').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('authorization_codes').dropColumn('dpop_jkt').execute()
}
