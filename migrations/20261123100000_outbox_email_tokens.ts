import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. Timestamps are epoch milliseconds.

export async function up(db: Kysely<any>): Promise<void> {
  // One row per email to send. It holds what to send (a template and whom it is about), never a
  // secret: a token is minted when the message is composed, so the database never holds one in
  // plain text. Rows are claimed by one worker at a time through claimed_until.
  await db.schema
    .createTable('outbox')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('template', 'varchar(32)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)')
    .addColumn('email', 'varchar(320)')
    // pending → sent | failed (gave up) | discarded (nothing to send, e.g. an unknown address)
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('claimed_until', 'bigint')
    .addColumn('finished_at', 'bigint')
    .addColumn('last_error', 'varchar(200)')
    .execute()
  await db.schema.createIndex('outbox_due').on('outbox').columns(['status', 'next_attempt_at']).execute()
  await db.schema.createIndex('outbox_email').on('outbox').columns(['email', 'created_at']).execute()
  await db.schema.createIndex('outbox_user_id').on('outbox').columns(['user_id', 'created_at']).execute()

  for (const table of ['email_verification_tokens', 'password_reset_tokens']) {
    await db.schema
      .createTable(table)
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('user_id', 'varchar(64)', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('token_hash', 'varchar(64)', (c) => c.notNull().unique())
      // The address the token was sent to: verifying proves control of this address only.
      .addColumn('email', 'varchar(320)', (c) => c.notNull())
      // When the request behind it was made: a token for an older request never outlives a newer one.
      .addColumn('requested_at', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .execute()
    await db.schema.createIndex(`${table}_user_id`).on(table).column('user_id').execute()
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['password_reset_tokens', 'email_verification_tokens', 'outbox']) {
    await db.schema.dropTable(table).execute()
  }
}
