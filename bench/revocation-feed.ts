// The revocation feed's per-second refresh with a large feed (issue 11): a full read of every entry
// in reach (what every refresh did before) against a read of the rows changed since the previous
// one, merged into those kept (what refreshes between full reads do now).
//
//   node --import tsx bench/revocation-feed.ts                       # SQLite in a temporary dir
//   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node --import tsx bench/revocation-feed.ts
//
// The app is assembled in this process on a fresh database (a PostgreSQL one is created next to
// BENCH_DATABASE_URL's and dropped after), BENCH_FEED_ENTRIES revoked access tokens are written,
// spread over the access-token lifetime (less twice the skew, so none drops out during the run),
// then each round writes BENCH_FEED_NEW more, moves the clock one refresh on and refreshes.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { pino } from 'pino'
import { loadConfig, type DatabaseConfig } from '../server/config.js'
import { createLogger } from '../server/logger.js'
import { assemble } from '../server/main.js'
import {
  REVOCATION_FEED_REFRESH_MS,
  createRevocationFeed,
  readRevocationSnapshot,
} from '../server/tokens/revocation-feed.js'

const ENTRIES = Number(process.env.BENCH_FEED_ENTRIES ?? 20_000)
const NEW_PER_ROUND = Number(process.env.BENCH_FEED_NEW ?? 20)
const ROUNDS = Number(process.env.BENCH_FEED_ROUNDS ?? 30)

async function adminQuery(url: string, query: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(query)
  } finally {
    await client.end()
  }
}

const dataDir = mkdtempSync(path.join(tmpdir(), 'latchkey-feed-bench-'))
const base = process.env.BENCH_DATABASE_URL
let database: DatabaseConfig = { dialect: 'sqlite', file: path.join(dataDir, 'latchkey.db') }
let dropDatabase = async () => {}
if (base) {
  const name = `latchkey_bench_${randomBytes(6).toString('hex')}`
  await adminQuery(base, `create database ${name}`)
  dropDatabase = () => adminQuery(base, `drop database if exists ${name} with (force)`)
  const url = new URL(base)
  url.pathname = `/${name}`
  database = { dialect: 'postgres', url: url.href }
}

let now = Date.now()
const clock = { now: () => now }
const config = Object.freeze({ ...loadConfig({ LATCHKEY_DATA_DIR: dataDir, LOG_LEVEL: 'silent' }), database })
const latchkey = await assemble(config, createLogger('silent', pino.destination('/dev/null')), clock)
const { db } = latchkey.deps

let written = 0
/** `count` tokens revoked over the last `spreadMs`, each right after it was minted. */
async function revoke(count: number, spreadMs = 0): Promise<void> {
  for (let done = 0; done < count; done += 500) {
    const rows = Array.from({ length: Math.min(500, count - done) }, (_, i) => {
      const at = now - Math.floor(((done + i) * spreadMs) / count)
      return { jti: randomBytes(16).toString('base64url'), revoked_at: at, expires_at: at + config.accessTokenTtlMs }
    })
    await db.insertInto('revoked_access_tokens').values(rows).execute()
    written += rows.length
  }
}

function summary(ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1)
  return `median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`
}

async function rounds(refresh: () => Promise<{ json: string }>): Promise<{ ms: number[]; bytes: number }> {
  const ms: number[] = []
  let bytes = 0
  for (let i = 0; i < ROUNDS; i++) {
    await revoke(NEW_PER_ROUND)
    now += REVOCATION_FEED_REFRESH_MS
    const started = performance.now()
    const snap = await refresh()
    ms.push(performance.now() - started)
    bytes = snap.json.length
  }
  return { ms, bytes }
}

try {
  // A mint-and-revoke loop running for a token lifetime already: its revocations spread over it.
  await revoke(ENTRIES, config.accessTokenTtlMs - 2 * config.clockSkewMs)
  // Warm both paths up once (JIT, statement caches).
  await readRevocationSnapshot(latchkey.deps)
  const full = await rounds(() => readRevocationSnapshot(latchkey.deps))
  const feed = createRevocationFeed(latchkey.deps)
  now += REVOCATION_FEED_REFRESH_MS
  await feed.snapshot()
  const incremental = await rounds(() => feed.snapshot())
  console.log(`${database.dialect}, ${written} revoked access tokens in the feed (${full.bytes} bytes)`)
  console.log(`full read per refresh:        ${summary(full.ms)}`)
  console.log(`incremental read per refresh: ${summary(incremental.ms)} (${NEW_PER_ROUND} new entries each)`)
} finally {
  await latchkey.close()
  await dropDatabase()
  rmSync(dataDir, { recursive: true, force: true })
}
