import {
  sql,
  type ExpressionBuilder,
  type Kysely,
  type Selectable,
  type SelectQueryBuilder,
  type Transaction,
} from 'kysely'
import type { Database } from './database.js'

// The outbox pattern, shared by the mail outbox (mail/) and the back-channel logout queue
// (sessions/): a row is queued in the transaction of the change that causes it, a worker claims it
// for a lease, and it ends (delivered, failed, discarded) or is retried with back-off. Each table
// keeps its own columns and statuses; these are the columns and steps they share.

type Executor = Kysely<Database> | Transaction<Database>

/** The tables that work as an outbox. */
export type OutboxQueue = 'outbox' | 'backchannel_logouts'

/** Back-off after the n-th failed attempt: 30 s, 1 min, 2 min … capped at 1 h. */
const FIRST_RETRY_MS = 30_000
const MAX_RETRY_MS = 3_600_000

export function retryDelayMs(attempts: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, attempts - 1))
}

/** Still to do and held by no live lease (a lease past `now` was a crashed worker's). */
export function isUnleased(eb: ExpressionBuilder<Database, OutboxQueue>, now: number) {
  return eb.and([
    eb('status', '=', 'pending'),
    eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<=', now)]),
  ])
}

/**
 * Claims the rows `due` selects for this worker until `now + leaseMs`, atomically on both
 * dialects: the lease conditions are repeated on the UPDATE itself, so when two instances race
 * for a row, PostgreSQL re-checks them against the winner's committed version and the loser
 * skips it; SQLite runs one writer at a time. The attempt is counted here, so a row that crashes
 * its worker is still retried only a bounded number of times.
 */
export async function claimQueuedRows<Q extends OutboxQueue, DueDb, DueFrom extends keyof DueDb>(
  db: Executor,
  queue: Q,
  due: SelectQueryBuilder<DueDb, DueFrom, { id: string }>,
  now: number,
  leaseMs: number,
): Promise<Selectable<Database[Q]>[]> {
  // Widened to the union: the columns this touches are the same in every queue.
  const table: OutboxQueue = queue
  const rows = await db
    .updateTable(table)
    .set({ claimed_until: now + leaseMs, attempts: sql<number>`attempts + 1` })
    .where('id', 'in', due)
    .where((eb) => isUnleased(eb, now))
    .returningAll()
    .execute()
  return rows as Selectable<Database[Q]>[]
}

/** Ends a claimed row that is still pending (a row another worker already ended stays as it is). */
export async function finishQueuedRow<Q extends OutboxQueue>(
  db: Executor,
  queue: Q,
  id: string,
  status: Exclude<Database[Q]['status'], 'pending'>,
  now: number,
  error: string | null = null,
): Promise<void> {
  const table: OutboxQueue = queue
  await db
    .updateTable(table)
    .set({ status, finished_at: now, claimed_until: null, last_error: error })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute()
}

/** Gives a claimed row back, to be tried again at `nextAttemptAt`. */
export async function scheduleQueuedRowRetry(
  db: Executor,
  queue: OutboxQueue,
  id: string,
  nextAttemptAt: number,
  error: string,
): Promise<void> {
  await db
    .updateTable(queue)
    .set({ next_attempt_at: nextAttemptAt, claimed_until: null, last_error: error })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute()
}

/**
 * Claims due rows and handles them, batch by batch, until none is left. Once `signal` aborts, the
 * batch in hand is finished but no other is claimed.
 */
export async function drainQueue<Row>(
  claim: () => Promise<Row[]>,
  handle: (row: Row) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  while (!signal?.aborted) {
    const rows = await claim()
    if (rows.length === 0) return
    await Promise.all(rows.map(handle))
  }
}

export interface QueueWorker {
  /** Stops the timer and waits for the batch in progress. */
  stop(): Promise<void>
}

/** Runs `work` every `intervalMs`, never two at once; a failure goes to `onError` and the next tick runs anyway. */
export function startQueueWorker(
  intervalMs: number,
  work: (signal: AbortSignal) => Promise<void>,
  onError: (error: unknown) => void,
): QueueWorker {
  let running: Promise<void> | null = null
  const stopping = new AbortController()
  const tick = () => {
    if (running) return
    running = work(stopping.signal)
      .catch(onError)
      .finally(() => {
        running = null
      })
  }
  const timer = setInterval(tick, intervalMs)
  timer.unref()
  return {
    async stop() {
      clearInterval(timer)
      stopping.abort()
      await running
    },
  }
}
