import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Db } from './database.js'

/** SQLite's default: checkpoint on commit once the WAL holds this many pages. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000

// Runs in a worker thread with a connection of its own. A PASSIVE checkpoint never blocks
// writers; it copies what it can and the writer restarts the WAL once everything is copied.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.driver)
const db = new Database(workerData.file)
db.pragma('busy_timeout = 5000')
const tick = () => {
  const [result] = db.pragma('wal_checkpoint(PASSIVE)')
  parentPort.postMessage(result)
}
const timer = setInterval(tick, workerData.intervalMs)
parentPort.on('message', (message) => {
  if (message !== 'stop') return
  clearInterval(timer)
  db.close()
  parentPort.close()
})
`

export interface WalCheckpointResult {
  busy: number
  log: number
  checkpointed: number
}

export interface WalCheckpointer {
  stop(): Promise<void>
  /** Settles when the worker has exited, whether stopped or failed (and checkpoints are back on commit). */
  exited: Promise<void>
}

/**
 * Moves WAL checkpoints off the request path. With SQLite's automatic checkpoints the commit that
 * crosses 1,000 pages copies them into the database and fsyncs it, inside a request: on the
 * refresh-rotation hot path that cost more than half of all database time. Here the serving
 * connection never checkpoints and a worker thread does it every `intervalMs`. If the worker
 * dies, the serving connection goes back to automatic checkpoints, so the WAL never grows without
 * bound.
 */
export async function startWalCheckpointer(
  deps: { db: Db; log: Logger },
  file: string,
  options: { intervalMs: number; onCheckpoint?: (result: WalCheckpointResult) => void },
): Promise<WalCheckpointer> {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3')
  await sql`pragma wal_autocheckpoint = 0`.execute(deps.db)
  const worker = new Worker(workerSource, { eval: true, workerData: { driver, file, intervalMs: options.intervalMs } })
  let stopping = false
  let failed = false
  let exitedResolve!: () => void
  const exited = new Promise<void>((resolve) => (exitedResolve = resolve))
  worker.on('message', (result: WalCheckpointResult) => options.onCheckpoint?.(result))
  const restoreAutocheckpoint = () =>
    sql`pragma wal_autocheckpoint = ${sql.raw(String(DEFAULT_AUTOCHECKPOINT_PAGES))}`.execute(deps.db)
  const fallBack = (error?: unknown) => {
    if (stopping || failed) return
    failed = true
    deps.log.error(
      { event: 'db.checkpointer_failed', err: error },
      'the WAL checkpoint worker stopped; checkpointing on commit again',
    )
  }
  worker.on('error', fallBack)
  worker.on('exit', () => {
    fallBack()
    // Resolved once the serving connection checkpoints again.
    restoreAutocheckpoint().then(exitedResolve, exitedResolve)
  })
  return {
    async stop() {
      stopping = true
      worker.postMessage('stop')
      await exited
    },
    exited,
  }
}
