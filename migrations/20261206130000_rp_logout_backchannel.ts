import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. Timestamps are epoch milliseconds.

export async function up(db: Kysely<any>): Promise<void> {
  // OpenID Connect RP-Initiated Logout 1.0 §3.1 and Back-Channel Logout 1.0 §2.2: where a client
  // may be sent after logout (JSON array, exact match) and where its logout tokens are posted.
  await db.schema
    .alterTable('clients')
    .addColumn('post_logout_redirect_uris', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute()
  await db.schema.alterTable('clients').addColumn('backchannel_logout_uri', 'varchar(2000)').execute()
  // The hosted sign-in that opened an app's session (through the code it issued): logging out of
  // that sign-in ends the sessions it opened.
  await db.schema.alterTable('authorization_codes').addColumn('signin_session_id', 'varchar(64)').execute()
  await db.schema.alterTable('sessions').addColumn('signin_session_id', 'varchar(64)').execute()
  await db.schema.createIndex('sessions_signin_session_id').on('sessions').column('signin_session_id').execute()
  // One logout token to deliver: the outbox pattern, like the mail outbox. The token itself is
  // signed at delivery; the row holds who and which session, never a secret.
  await db.schema
    .createTable('backchannel_logouts')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('client_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('session_id', 'varchar(64)', (c) => c.notNull())
    // pending → delivered | failed (gave up) | discarded (the client no longer takes them)
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('claimed_until', 'bigint')
    .addColumn('finished_at', 'bigint')
    .addColumn('last_error', 'varchar(200)')
    .execute()
  await db.schema
    .createIndex('backchannel_logouts_due')
    .on('backchannel_logouts')
    .columns(['status', 'next_attempt_at'])
    .execute()
  await db.schema
    .createIndex('backchannel_logouts_finished_at')
    .on('backchannel_logouts')
    .column('finished_at')
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('backchannel_logouts').execute()
  await db.schema.dropIndex('sessions_signin_session_id').execute()
  await db.schema.alterTable('sessions').dropColumn('signin_session_id').execute()
  await db.schema.alterTable('authorization_codes').dropColumn('signin_session_id').execute()
  await db.schema.alterTable('clients').dropColumn('backchannel_logout_uri').execute()
  await db.schema.alterTable('clients').dropColumn('post_logout_redirect_uris').execute()
}
