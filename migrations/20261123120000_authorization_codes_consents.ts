import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. Booleans are 0/1 integers and timestamps epoch
// milliseconds, so SQLite and PostgreSQL agree.

export async function up(db: Kysely<any>): Promise<void> {
  // First-party clients (the operator's own apps) skip the consent page.
  await db.schema
    .alterTable('clients')
    .addColumn('first_party', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()

  // The hosted sign-in: who is signed in at Latchkey's pages in this browser (the SSO session).
  await db.schema
    .createTable('signin_sessions')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // sha256 of the cookie's opaque value, base64url.
    .addColumn('token_hash', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('amr', 'varchar(100)', (c) => c.notNull())
    .addColumn('auth_time', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute()
  await db.schema.createIndex('signin_sessions_user_id').on('signin_sessions').column('user_id').execute()

  // RFC 6749 §4.1.2: single-use codes, stored only as hashes.
  await db.schema
    .createTable('authorization_codes')
    .addColumn('code_hash', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('client_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('redirect_uri', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('audience', 'text', (c) => c.notNull())
    .addColumn('code_challenge', 'varchar(128)', (c) => c.notNull())
    .addColumn('nonce', 'text')
    .addColumn('amr', 'varchar(100)', (c) => c.notNull())
    .addColumn('auth_time', 'bigint', (c) => c.notNull())
    // The browser that signed in, shown with the session in /auth/sessions.
    .addColumn('ip', 'varchar(64)')
    .addColumn('user_agent', 'varchar(300)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    // The session (refresh-token family) the exchange opened, revoked if the code is replayed.
    .addColumn('session_id', 'varchar(64)')
    .addColumn('replayed_at', 'bigint')
    .execute()
  await db.schema.createIndex('authorization_codes_expires_at').on('authorization_codes').column('expires_at').execute()

  // A user's remembered consent to a third-party client (the scopes granted so far).
  await db.schema
    .createTable('consents')
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('client_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('consents_pkey', ['user_id', 'client_id'])
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('consents').execute()
  await db.schema.dropTable('authorization_codes').execute()
  await db.schema.dropTable('signin_sessions').execute()
  await db.schema.alterTable('clients').dropColumn('first_party').execute()
}
