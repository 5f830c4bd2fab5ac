import { randomUUID } from 'node:crypto'
import type { Db } from '../db/database.js'

export interface AuditEvent {
  /** Stable name, e.g. login.failed, refresh.reused. */
  event: string
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
