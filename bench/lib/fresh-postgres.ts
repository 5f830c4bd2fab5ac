// A fresh PostgreSQL database for one bench run on the server BENCH_DATABASE_URL names, dropped
// afterwards, so the bench's fixtures (the same e-mail address every run) never meet old rows.
import { randomBytes } from 'node:crypto'
import pg from 'pg'

export interface FreshDatabase {
  url: string
  drop: () => Promise<void>
}

export async function createFreshPostgresDatabase(serverUrl: string): Promise<FreshDatabase> {
  const name = `latchkey_bench_${randomBytes(6).toString('hex')}`
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: serverUrl })
    await client.connect()
    try {
      await client.query(statement)
    } finally {
      await client.end()
    }
  }
  await admin(`create database ${name}`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return { url: url.toString(), drop: () => admin(`drop database if exists ${name} with (force)`) }
}
