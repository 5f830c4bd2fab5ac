import path from 'node:path'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { DatabaseConfig } from '../../server/config.js'

export type Dialect = 'sqlite' | 'postgres'

export interface Tap {
  testdir(): string
  teardown(fn: () => unknown): void
}

const testDirs = new WeakMap<Tap, string>()

/** t.testdir() empties the directory on every call, so each test asks for it once, here. */
export function testDirOf(t: Tap): string {
  let dir = testDirs.get(t)
  if (dir === undefined) {
    dir = t.testdir()
    testDirs.set(t, dir)
  }
  return dir
}

/** SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (CI sets it). */
export function testDialects(): Dialect[] {
  return process.env.TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite']
}

/**
 * A fresh, empty database for one test: a SQLite file in the test's directory, or a PostgreSQL
 * database of its own (dropped at teardown) so test files can run in parallel on one server.
 */
export async function provisionDatabase(t: Tap, dialect: Dialect, dir = testDirOf(t)): Promise<DatabaseConfig> {
  if (dialect === 'sqlite') return { dialect: 'sqlite', file: path.join(dir, 'latchkey.db') }
  const base = process.env.TEST_DATABASE_URL
  if (!base) throw new Error('TEST_DATABASE_URL is not set')
  const name = `latchkey_test_${randomBytes(6).toString('hex')}`
  await runAdminQuery(base, `create database ${name}`)
  t.teardown(() => runAdminQuery(base, `drop database if exists ${name} with (force)`))
  const url = new URL(base)
  url.pathname = `/${name}`
  return { dialect: 'postgres', url: url.href }
}

async function runAdminQuery(url: string, query: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(query)
  } finally {
    await client.end()
  }
}
