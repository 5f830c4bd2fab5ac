// isOutage on errors raised by the real drivers: what a backing service that cannot answer looks
// like (503) versus what a bug looks like (500). Nothing is built by hand but plain bugs.
import t from 'tap'
import pg from 'pg'
import { Redis } from 'ioredis'
import { sql } from 'kysely'
import { createDb } from '../../server/db/create-db.js'
import { isOutage } from '../../server/db/is-outage.js'
import { freePort } from '../helpers/free-port.js'
import { provisionDatabase, testDialects } from '../helpers/test-database.js'

const failureOf = async (operation: () => Promise<unknown>): Promise<unknown> => {
  try {
    await operation()
  } catch (error) {
    return error
  }
  throw new Error('the operation did not fail')
}

t.test('PostgreSQL refusing connections is an outage', async (t) => {
  const port = await freePort()
  const db = createDb(
    { dialect: 'postgres', url: `postgres://postgres@127.0.0.1:${port}/none` },
    { max: 1, statementTimeoutMs: 1_000, connectTimeoutMs: 1_000 },
  )
  t.teardown(() => db.destroy())
  const error = await failureOf(() => sql`select 1`.execute(db))
  t.ok(isOutage(error), String(error))
})

t.test('Redis unreachable is an outage', async (t) => {
  const port = await freePort()
  const redis = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 0, lazyConnect: true })
  redis.on('error', () => {})
  t.teardown(() => redis.disconnect())
  const refused = await failureOf(() => redis.connect())
  t.ok(isOutage(refused), `connect: ${String(refused)}`)
  const command = await failureOf(() => redis.get('x'))
  t.ok(isOutage(command), `command: ${String(command)}`)
})

t.test('bugs are not outages', async (t) => {
  t.notOk(isOutage(new TypeError("Cannot read properties of undefined (reading 'id')")))
  t.notOk(isOutage(new Error('something else')))
  t.notOk(isOutage('ECONNREFUSED'), 'a string is not an error')
  t.notOk(isOutage(null))
})

for (const dialect of testDialects()) {
  t.test(`a failing statement on ${dialect} is a bug, not an outage`, async (t) => {
    const database = await provisionDatabase(t, dialect)
    const db = createDb(database)
    t.teardown(() => db.destroy())
    const syntax = await failureOf(() => sql`selec 1`.execute(db))
    t.notOk(isOutage(syntax), `syntax error: ${String(syntax)}`)
    await sql`create table t (id integer primary key)`.execute(db)
    await sql`insert into t values (1)`.execute(db)
    const duplicate = await failureOf(() => sql`insert into t values (1)`.execute(db))
    t.notOk(isOutage(duplicate), `constraint: ${String(duplicate)}`)
  })
}

t.test('a PostgreSQL statement cut by statement_timeout is an outage (the database is overloaded)', async (t) => {
  if (!process.env.TEST_DATABASE_URL) return t.plan(0, 'needs TEST_DATABASE_URL')
  const database = await provisionDatabase(t, 'postgres')
  const db = createDb(database, { max: 1, statementTimeoutMs: 1_000, connectTimeoutMs: 2_000 })
  t.teardown(() => db.destroy())
  const error = await failureOf(() => sql`select pg_sleep(3)`.execute(db))
  t.equal((error as { code?: string }).code, '57014', 'query_canceled')
  t.ok(isOutage(error))
})

t.test('a PostgreSQL session ended by the server is an outage', async (t) => {
  if (!process.env.TEST_DATABASE_URL) return t.plan(0, 'needs TEST_DATABASE_URL')
  const database = await provisionDatabase(t, 'postgres')
  if (database.dialect !== 'postgres') throw new Error('unreachable')
  const client = new pg.Client({ connectionString: database.url })
  client.on('error', () => {})
  await client.connect()
  const admin = new pg.Client({ connectionString: database.url })
  await admin.connect()
  t.teardown(() => admin.end())
  const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid')
  const sleeping = failureOf(() => client.query('select pg_sleep(10)'))
  await new Promise((resolve) => setTimeout(resolve, 200))
  await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid])
  const error = await sleeping
  t.equal((error as { code?: string }).code, '57P01', 'admin_shutdown')
  t.ok(isOutage(error))
})
