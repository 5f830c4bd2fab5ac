import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. Between its full reads the revocation feed reads only
// the access tokens revoked since its previous read, by range on revoked_at.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('revoked_access_tokens_revoked_at')
    .on('revoked_access_tokens')
    .column('revoked_at')
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('revoked_access_tokens_revoked_at').execute()
}
