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
// At once: the first writes after an idle spell get their checkpoint (and fsync) without waiting a tick.
tick()
const timer = setInterval(tick, workerData.intervalMs)
parentPort.on('message', (message) => {
  if (message !== 'stop') return
  clearInterval(timer)
  tick()
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
  /** Whether the worker thread is running now (it runs only while the serving connection writes). */
  workerRunning(): boolean
  /** Settles when the checkpointer has ended, whether stopped or failed (and checkpoints are back on commit). */
  exited: Promise<void>
}

/** A worker idle for this long (no row changed on the serving connection) is stopped until the next write. */
const DEFAULT_IDLE_STOP_MS = 60_000

/**
 * Moves WAL checkpoints off the request path. With SQLite's automatic checkpoints the commit that
 * crosses 1,000 pages copies them into the database and fsyncs it, inside a request: on the
 * refresh-rotation hot path that cost more than half of all database time. Here the serving
 * connection never checkpoints and a worker thread does it every `intervalMs`. If the worker
 * dies, the serving connection goes back to automatic checkpoints, so the WAL never grows without
 * bound.
 *
 * The worker is a second V8 isolate (~9 MiB of RSS), so it runs only while the server writes: every
 * `intervalMs` the main thread reads the serving connection's `total_changes()` (microseconds), starts
 * the worker when it has moved and stops it once nothing changed for `idleStopMs`. A server that only
 * reads (client_credentials tokens, JWKS) never starts it. Checkpointing on the main thread instead was
 * measured as blocking the event loop for 17–28 ms (up to 88 ms) once a second under refresh rotation.
 */
export async function startWalCheckpointer(
  deps: { db: Db; log: Logger },
  file: string,
  options: { intervalMs: number; idleStopMs?: number; onCheckpoint?: (result: WalCheckpointResult) => void },
): Promise<WalCheckpointer> {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3')
  await sql`pragma wal_autocheckpoint = 0`.execute(deps.db)
  const idleTicks = Math.max(1, Math.ceil((options.idleStopMs ?? DEFAULT_IDLE_STOP_MS) / options.intervalMs))
  let stopping = false
  let failed = false
  let lastChanges = await totalChanges(deps.db)
  let quietTicks = 0
  let exitedResolve!: () => void
  const exited = new Promise<void>((resolve) => (exitedResolve = resolve))
  const restoreAutocheckpoint = () =>
    sql`pragma wal_autocheckpoint = ${sql.raw(String(DEFAULT_AUTOCHECKPOINT_PAGES))}`.execute(deps.db)
  const end = () => {
    clearInterval(watch)
    // Resolved once the serving connection checkpoints again.
    restoreAutocheckpoint().then(exitedResolve, exitedResolve)
  }
  const fallBack = (error?: unknown) => {
    if (stopping || failed) return
    failed = true
    // A worker started after the failing one must not go on running with nobody to stop it.
    void running?.worker.terminate()
    running = null
    deps.log.error(
      { event: 'db.checkpointer_failed', err: error },
      'the WAL checkpoint worker stopped; checkpointing on commit again',
    )
    end()
  }
  const startWorker = () => {
    const started = new Worker(workerSource, {
      eval: true,
      workerData: { driver, file, intervalMs: options.intervalMs },
    })
    let parked = false
    started.on('message', (result: WalCheckpointResult) => options.onCheckpoint?.(result))
    // A parked worker's last checkpoint failing changes nothing: the next worker, or the serving
    // connection, checkpoints what it left.
    started.on('error', (error) => {
      if (parked)
        deps.log.warn({ event: 'db.checkpointer_park_failed', err: error }, 'a stopping WAL checkpoint worker failed')
      else fallBack(error)
    })
    started.on('exit', () => {
      if (!parked) fallBack()
    })
    return {
      worker: started,
      park: () => {
        parked = true
        started.postMessage('stop')
      },
    }
  }
  let running: ReturnType<typeof startWorker> | null = null
  const tick = async () => {
    const changes = await totalChanges(deps.db)
    if (stopping || failed) return
    if (changes !== lastChanges) {
      lastChanges = changes
      quietTicks = 0
      running ??= startWorker()
    } else if (running !== null && ++quietTicks >= idleTicks) {
      running.park()
      running = null
    }
  }
  const watch = setInterval(() => void tick().catch(fallBack), options.intervalMs)
  watch.unref()
  return {
    async stop() {
      if (stopping || failed) return exited
      stopping = true
      const last = running
      running = null
      if (last === null) {
        end()
      } else {
        last.worker.once('exit', end)
        last.park()
      }
      await exited
    },
    workerRunning: () => running !== null,
    exited,
  }
}

async function totalChanges(db: Db): Promise<number> {
  const { rows } = await sql<{ changes: number }>`select total_changes() as changes`.execute(db)
  return Number(rows[0]?.changes ?? 0)
}
