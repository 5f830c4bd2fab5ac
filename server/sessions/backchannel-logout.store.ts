import { randomUUID } from 'node:crypto'
import { sql, type Kysely, type Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import { claimQueuedRows, finishQueuedRow, isUnleased, scheduleQueuedRowRetry } from '../db/outbox-queue.js'
import type { BackchannelLogoutRow } from './backchannel-logout.table.js'

type Executor = Kysely<Database> | Transaction<Database>

/**
 * Ids bound per statement: a user may hold thousands of sessions, and SQLite refuses a statement
 * with more than 32,766 bound values (PostgreSQL 65,535); each queued row binds 11.
 */
const IDS_PER_STATEMENT = 500

/**
 * Queues a logout token for each of these (just ended) sessions whose client registered a
 * backchannel_logout_uri. Call inside the transaction that ends them: both commit or neither does.
 */
export async function enqueueBackchannelLogouts(db: Executor, sessionIds: string[], now: number): Promise<number> {
  let queued = 0
  for (let start = 0; start < sessionIds.length; start += IDS_PER_STATEMENT) {
    queued += await enqueueBackchannelLogoutsOf(db, sessionIds.slice(start, start + IDS_PER_STATEMENT), now)
  }
  return queued
}

async function enqueueBackchannelLogoutsOf(db: Executor, sessionIds: string[], now: number): Promise<number> {
  const sessions = await db
    .selectFrom('sessions')
    .innerJoin('clients', 'clients.id', 'sessions.client_id')
    .select(['sessions.id as session_id', 'sessions.user_id', 'sessions.client_id'])
    .where('sessions.id', 'in', sessionIds)
    .where('clients.backchannel_logout_uri', 'is not', null)
    .execute()
  if (sessions.length === 0) return 0
  await db
    .insertInto('backchannel_logouts')
    .values(
      sessions.map((s) => ({
        id: randomUUID(),
        client_id: s.client_id,
        user_id: s.user_id,
        session_id: s.session_id,
        status: 'pending' as const,
        created_at: now,
        next_attempt_at: now,
        attempts: 0,
        claimed_until: null,
        finished_at: null,
        last_error: null,
      })),
    )
    .execute()
  return sessions.length
}

/**
 * Claims up to `limit` due rows for this worker until `now + leaseMs`, at most `perClient` of any
 * one client, atomically on both dialects (db/outbox-queue.ts, as the mail outbox's claimDueMail):
 * of several instances racing for a row exactly one gets it. The attempt is counted here. The
 * per-client cap keeps one app whose endpoint hangs from filling a batch, so every other app's
 * tokens go out in the same batch instead of queueing behind it.
 */
export async function claimDueBackchannelLogouts(
  db: Executor,
  now: number,
  leaseMs: number,
  limit: number,
  perClient: number,
): Promise<BackchannelLogoutRow[]> {
  const ranked = db
    .selectFrom('backchannel_logouts')
    .select([
      'id',
      'next_attempt_at',
      sql<number>`row_number() over (partition by client_id order by next_attempt_at, id)`.as('client_rank'),
    ])
    .where('next_attempt_at', '<=', now)
    .where((eb) => isUnleased(eb, now))
  const due = db
    .selectFrom(ranked.as('ranked'))
    .select('ranked.id')
    .where('ranked.client_rank', '<=', perClient)
    .orderBy('ranked.next_attempt_at')
    .limit(limit)
  return claimQueuedRows(db, 'backchannel_logouts', due, now, leaseMs)
}

export async function finishBackchannelLogout(
  db: Executor,
  id: string,
  status: 'delivered' | 'failed' | 'discarded',
  now: number,
  error: string | null = null,
): Promise<void> {
  await finishQueuedRow(db, 'backchannel_logouts', id, status, now, error)
}

export async function scheduleBackchannelLogoutRetry(
  db: Executor,
  id: string,
  nextAttemptAt: number,
  error: string,
): Promise<void> {
  await scheduleQueuedRowRetry(db, 'backchannel_logouts', id, nextAttemptAt, error)
}

/** Finished rows (delivered, failed, discarded) before `before`, one batch (maintenance). */
export async function deleteBackchannelLogoutsFinishedBefore(
  db: Executor,
  before: number,
  limit: number,
): Promise<number> {
  const batch = db
    .selectFrom('backchannel_logouts')
    .select('id')
    .where('status', '!=', 'pending')
    .where('finished_at', '<', before)
    .limit(limit)
  const result = await db.deleteFrom('backchannel_logouts').where('id', 'in', batch).executeTakeFirst()
  return Number(result.numDeletedRows)
}
