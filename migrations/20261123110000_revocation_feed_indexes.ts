import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. The revocation feed reads recent cut-offs and
// unexpired revoked access tokens by range; sessions.revoked_at is already indexed.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('users_tokens_valid_after').on('users').column('tokens_valid_after').execute()
  await db.schema
    .createIndex('revoked_access_tokens_expires_at')
    .on('revoked_access_tokens')
    .column('expires_at')
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('revoked_access_tokens_expires_at').execute()
  await db.schema.dropIndex('users_tokens_valid_after').execute()
}
