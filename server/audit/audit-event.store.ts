import { randomUUID } from 'node:crypto'
import type { Db } from '../db/database.js'
import type { AuditEventName } from './audit-event-name.js'

export interface AuditEvent {
  /** Stable name, e.g. login.failed, refresh.reused. */
  event: AuditEventName
  userId?: string | null
  clientId?: string | null
  sessionId?: string | null
  ip?: string | null
  details?: Record<string, string | number | boolean | null>
}

export async function insertAuditEvent(db: Db, event: AuditEvent, now: number): Promise<void> {
  await db
    .insertInto('audit_events')
    .values({
      id: randomUUID(),
      event: event.event,
      user_id: event.userId ?? null,
      client_id: event.clientId ?? null,
      session_id: event.sessionId ?? null,
      ip: event.ip ?? null,
      details: event.details ? JSON.stringify(event.details) : null,
      created_at: now,
    })
    .execute()
}

/** Audit events recorded before `before` (LATCHKEY_AUDIT_RETENTION), one batch. */
export async function deleteAuditEventsBefore(db: Db, before: number, limit: number): Promise<number> {
  const batch = db.selectFrom('audit_events').select('id').where('created_at', '<', before).limit(limit)
  const result = await db.deleteFrom('audit_events').where('id', 'in', batch).executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** An audit row as stored, for the admin API and the CLI. */
export interface StoredAuditEvent {
  id: string
  event: string
  userId: string | null
  clientId: string | null
  sessionId: string | null
  ip: string | null
  details: Record<string, string | number | boolean | null> | null
  createdAt: number
}

export interface AuditEventFilter {
  event?: AuditEventName
  userId?: string
  /** Epoch ms: only events at or after it. */
  since?: number
}

/** Newest first; `before` is the last row of the previous page (keyset pagination). */
export async function listAuditEvents(
  db: Db,
  filter: AuditEventFilter,
  page: { limit: number; before: { createdAt: number; id: string } | null },
): Promise<StoredAuditEvent[]> {
  let query = db.selectFrom('audit_events').selectAll()
  if (filter.event !== undefined) query = query.where('event', '=', filter.event)
  if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId)
  if (filter.since !== undefined) query = query.where('created_at', '>=', filter.since)
  const before = page.before
  if (before !== null)
    query = query.where((eb) =>
      eb.or([
        eb('created_at', '<', before.createdAt),
        eb.and([eb('created_at', '=', before.createdAt), eb('id', '<', before.id)]),
      ]),
    )
  const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).execute()
  return rows.map((r) => ({
    id: r.id,
    event: r.event,
    userId: r.user_id,
    clientId: r.client_id,
    sessionId: r.session_id,
    ip: r.ip,
    details: r.details === null ? null : (JSON.parse(r.details) as Record<string, string | number | boolean | null>),
    createdAt: Number(r.created_at),
  }))
}

/**
 * Erasure: the user's audit rows stay (their user id is the pseudonym the trail keeps) but lose
 * the address they came from.
 */
export async function forgetAuditOriginsOfUser(db: Db, userId: string): Promise<void> {
  await db.updateTable('audit_events').set({ ip: null }).where('user_id', '=', userId).execute()
}
