import { randomUUID } from 'node:crypto'
import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import { claimQueuedRows, finishQueuedRow, isUnleased, scheduleQueuedRowRetry } from '../db/outbox-queue.js'
import type { MailTemplate, OutboxRow } from './outbox.table.js'

type Executor = Kysely<Database> | Transaction<Database>

export interface MailRequest {
  template: MailTemplate
  userId?: string | null
  email?: string | null
  /** Facts as they were when the mail was asked for; never a secret. */
  details?: Record<string, string | number>
}

/** Call inside the transaction of the change that causes the mail: both commit or neither does. */
export async function enqueueMail(db: Executor, mail: MailRequest, now: number): Promise<void> {
  await db
    .insertInto('outbox')
    .values({
      id: randomUUID(),
      template: mail.template,
      user_id: mail.userId ?? null,
      email: mail.email ?? null,
      details: mail.details === undefined ? null : JSON.stringify(mail.details),
      status: 'pending',
      created_at: now,
      next_attempt_at: now,
      attempts: 0,
    })
    .execute()
}

/** Mails of one template requested for an address or account since `since` (per-account limits). */
export async function countMailSince(
  db: Executor,
  template: MailTemplate,
  about: { email: string } | { userId: string },
  since: number,
): Promise<number> {
  let query = db
    .selectFrom('outbox')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('template', '=', template)
    .where('created_at', '>', since)
  query = 'email' in about ? query.where('email', '=', about.email) : query.where('user_id', '=', about.userId)
  const row = await query.executeTakeFirstOrThrow()
  return Number(row.n)
}

/**
 * Claims up to `limit` due rows for this worker until `now + leaseMs`, atomically on both
 * dialects (db/outbox-queue.ts); the attempt is counted here.
 */
export async function claimDueMail(db: Executor, now: number, leaseMs: number, limit: number): Promise<OutboxRow[]> {
  const due = db
    .selectFrom('outbox')
    .select('id')
    .where('next_attempt_at', '<=', now)
    .where((eb) => isUnleased(eb, now))
    .orderBy('next_attempt_at')
    .limit(limit)
  return claimQueuedRows(db, 'outbox', due, now, leaseMs)
}

export async function finishMail(
  db: Executor,
  id: string,
  status: 'sent' | 'failed' | 'discarded',
  now: number,
  error: string | null = null,
): Promise<void> {
  await finishQueuedRow(db, 'outbox', id, status, now, error)
}

export async function scheduleMailRetry(db: Executor, id: string, nextAttemptAt: number, error: string): Promise<void> {
  await scheduleQueuedRowRetry(db, 'outbox', id, nextAttemptAt, error)
}

/** Finished rows are kept for a while for operators to inspect, then removed. */
export async function purgeFinishedMail(db: Executor, before: number): Promise<void> {
  await db.deleteFrom('outbox').where('status', '!=', 'pending').where('finished_at', '<=', before).execute()
}

/**
 * Whether another live (pending or sent) mail of the same template about the same address or
 * account was requested after this one (`newer`) or before it since `since` (`older`). Ties on the
 * millisecond are broken by id, so of any set of pending rows exactly one is newest and one oldest.
 */
export async function hasRivalMail(
  db: Executor,
  row: OutboxRow,
  direction: 'newer' | 'older',
  since = 0,
): Promise<boolean> {
  const after = direction === 'newer'
  let query = db
    .selectFrom('outbox')
    .select('id')
    .where('template', '=', row.template)
    .where('id', '!=', row.id)
    .where('status', 'in', ['pending', 'sent'])
    .where('created_at', '>', since)
    .where((eb) => {
      const tie = [eb('created_at', '=', row.created_at), eb('id', after ? '>' : '<', row.id)]
      // A newer request sent in the same millisecond already has its link: this one may replace it.
      return eb.or([
        eb('created_at', after ? '>' : '<', row.created_at),
        eb.and(after ? [...tie, eb('status', '=', 'pending')] : tie),
      ])
    })
  query = row.email !== null ? query.where('email', '=', row.email) : query.where('user_id', '=', row.user_id ?? '')
  return (await query.executeTakeFirst()) !== undefined
}

/** The backlog for metrics: mails not yet sent, and when the oldest of them was requested (epoch ms). */
export async function measureOutboxBacklog(db: Executor): Promise<{ pending: number; oldestCreatedAt: number | null }> {
  const row = await db
    .selectFrom('outbox')
    .select((eb) => [eb.fn.countAll<number | string>().as('n'), eb.fn.min('created_at').as('oldest')])
    .where('status', '=', 'pending')
    .executeTakeFirstOrThrow()
  return { pending: Number(row.n), oldestCreatedAt: row.oldest === null ? null : Number(row.oldest) }
}

/**
 * Erasure: every mail about the user or to their address goes, sent or not, so neither a pending
 * notice reaches the erased address nor the outbox keeps it.
 */
export async function deleteMailOfUser(db: Executor, userId: string, email: string): Promise<void> {
  await db
    .deleteFrom('outbox')
    .where((eb) => eb.or([eb('user_id', '=', userId), eb('email', '=', email)]))
    .execute()
}
