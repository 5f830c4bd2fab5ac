import type { Kysely } from 'kysely'

// Frozen in time: never import from server/. Booleans are 0/1 integers and timestamps epoch
// milliseconds, so SQLite and PostgreSQL agree.

export async function up(db: Kysely<any>): Promise<void> {
  // RFC 8628 §3.2: a device's pending sign-in. Both codes are stored only as hashes: the device
  // code as sha256 of its opaque value, the user code as sha256 of its normalised 8 letters.
  await db.schema
    .createTable('device_authorizations')
    .addColumn('device_code_hash', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_code_hash', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('client_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('audience', 'text', (c) => c.notNull())
    // pending → approved | denied; a claimed (used) row stays until it expires, to refuse replays.
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('user_id', 'varchar(64)', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('amr', 'varchar(100)')
    .addColumn('auth_time', 'bigint')
    // The browser that approved (shown with the session the approval opens).
    .addColumn('ip', 'varchar(64)')
    .addColumn('user_agent', 'varchar(300)')
    // RFC 8628 §3.5: the polling interval in seconds, raised by 5 on each slow_down.
    .addColumn('interval_s', 'integer', (c) => c.notNull())
    .addColumn('last_polled_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute()
  await db.schema
    .createIndex('device_authorizations_expires_at')
    .on('device_authorizations')
    .column('expires_at')
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('device_authorizations').execute()
}
