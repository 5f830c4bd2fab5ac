import fs from 'node:fs'
import path from 'node:path'
import { Kysely, PostgresDialect, SqliteDialect, type LogEvent } from 'kysely'
import SQLite from 'better-sqlite3'
import { createRequire } from 'node:module'
import type PgModule from 'pg'
import type { DatabaseConfig, DatabasePool } from '../config.js'
import type { Database, Db } from './database.js'
import { addScrapeGauge, type Metrics } from '../metrics/metrics.js'

/** What createDb reports to, when it is given one (the CLI's short-lived commands pass none). */
export interface DbObservers {
  metrics: Metrics
  onScrapeError: (error: unknown) => void
}

const INT8_OID = 20

/** The only importer of the database drivers. */
// pg is loaded only for PostgreSQL deployments, so SQLite ones do not carry it in memory.
const requireModule = createRequire(import.meta.url)

/** The defaults of DATABASE_POOL_MAX, DATABASE_STATEMENT_TIMEOUT and DATABASE_CONNECT_TIMEOUT. */
const defaultPool: DatabasePool = { max: 10, statementTimeoutMs: 10_000, connectTimeoutMs: 5_000 }

/**
 * PostgreSQL TLS comes from the URL, as libpq reads it: `sslmode=require|verify-ca|verify-full`
 * with `sslrootcert=<file>` (and `sslcert`/`sslkey` for client certificates); pg parses them.
 */
export function createDb(
  config: DatabaseConfig,
  poolSettings: DatabasePool = defaultPool,
  observers?: DbObservers,
): Db {
  const log = observers ? queryTimer(observers.metrics) : undefined
  if (config.dialect === 'postgres') {
    const pg = requireModule('pg') as typeof PgModule
    const pool = new pg.Pool({
      connectionString: config.url,
      max: poolSettings.max,
      // Without these a request waits forever for a server that accepts but never answers, or for
      // a pooled connection while every one of them is stuck: an outage must surface as a 503.
      connectionTimeoutMillis: poolSettings.connectTimeoutMs,
      statement_timeout: poolSettings.statementTimeoutMs,
      // bigint columns hold epoch milliseconds, well inside Number's safe range; parse them for this
      // pool only instead of patching pg's global type table.
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
          oid === INT8_OID
            ? (value: string) => Number(value)
            : (pg.types.getTypeParser(oid, format) as unknown)) as typeof pg.types.getTypeParser,
      },
    })
    // An idle client losing its connection must not crash the process; the next query reconnects.
    pool.on('error', () => {})
    // A client checked out when the server goes away also emits 'error' besides failing its
    // query; without a listener that would be an uncaught exception.
    pool.on('connect', (client) => client.on('error', () => {}))
    if (observers) {
      addScrapeGauge(
        observers.metrics,
        {
          name: 'latchkey_db_pool_connections',
          help: 'PostgreSQL pool connections by state: total, idle, and requests waiting for one (max DATABASE_POOL_MAX).',
          labelNames: ['state'],
        },
        async () => [
          { labels: { state: 'total' }, value: pool.totalCount },
          { labels: { state: 'idle' }, value: pool.idleCount },
          { labels: { state: 'waiting' }, value: pool.waitingCount },
        ],
        observers.onScrapeError,
      )
    }
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log })
  }
  fs.mkdirSync(path.dirname(config.file), { recursive: true, mode: 0o700 })
  const database = new SQLite(config.file)
  database.pragma('journal_mode = WAL')
  database.pragma('synchronous = NORMAL')
  database.pragma('foreign_keys = ON')
  database.pragma('busy_timeout = 5000')
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }), log })
}

const statementKinds = new Set(['select', 'insert', 'update', 'delete'])

/** Statement durations by kind; the SQL text never becomes a label (unbounded, and it names tables). */
function queryTimer(metrics: Metrics): (event: LogEvent) => void {
  return (event) => {
    const verb = /^\s*(\w+)/.exec(event.query.sql)?.[1]?.toLowerCase() ?? 'other'
    const kind = statementKinds.has(verb) ? verb : 'other'
    metrics.dbQueryDuration.observe(
      { kind, result: event.level === 'query' ? 'ok' : 'error' },
      event.queryDurationMillis / 1000,
    )
  }
}

const STATEMENT_CACHE_SIZE = 200

/**
 * kysely prepares every query anew; on a hot path (a token request) preparing costs as much as
 * running. Our queries are parameterised, so their SQL text repeats and the prepared statement
 * can be reused. Bounded: the oldest statement is dropped first.
 */
function withStatementCache(database: SQLite.Database): SQLite.Database {
  const statements = new Map<string, SQLite.Statement>()
  return new Proxy(database, {
    get(target, property) {
      if (property !== 'prepare') {
        const value = Reflect.get(target, property, target) as unknown
        return typeof value === 'function' ? (value.bind(target) as unknown) : value
      }
      return (sql: string) => {
        let statement = statements.get(sql)
        if (!statement) {
          statement = target.prepare(sql)
          if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!)
          statements.set(sql, statement)
        }
        return statement
      }
    },
  })
}
