import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. The maintenance job purges expired rows in small
// batches by these columns; without an index every batch would scan the whole table.

const indexes = [
  ['sessions_expires_at', 'sessions', 'expires_at'],
  ['refresh_tokens_idle_expires_at', 'refresh_tokens', 'idle_expires_at'],
  ['signin_sessions_expires_at', 'signin_sessions', 'expires_at'],
  ['signin_sessions_revoked_at', 'signin_sessions', 'revoked_at'],
  ['password_reset_tokens_expires_at', 'password_reset_tokens', 'expires_at'],
  ['email_verification_tokens_expires_at', 'email_verification_tokens', 'expires_at'],
] as const

export async function up(db: Kysely<any>): Promise<void> {
  for (const [name, table, column] of indexes) await db.schema.createIndex(name).on(table).column(column).execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const [name] of [...indexes].reverse()) await db.schema.dropIndex(name).execute()
}
