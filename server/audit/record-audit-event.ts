import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
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

/** Security events go to the log as structured lines and to audit_events, never with secrets. */
export async function recordAuditEvent(deps: { db: Db; clock: Clock; log: Logger }, event: AuditEvent): Promise<void> {
  const level =
    event.event.endsWith('failed') || event.event.endsWith('reused') || event.event.endsWith('backoff')
      ? 'warn'
      : 'info'
  deps.log[level](
    {
      event: event.event,
      userId: event.userId ?? undefined,
      clientId: event.clientId ?? undefined,
      sessionId: event.sessionId ?? undefined,
      ip: event.ip ?? undefined,
      ...event.details,
    },
    'security event',
  )
  await deps.db
    .insertInto('audit_events')
    .values({
      id: randomUUID(),
      event: event.event,
      user_id: event.userId ?? null,
      client_id: event.clientId ?? null,
      session_id: event.sessionId ?? null,
      ip: event.ip ?? null,
      details: event.details ? JSON.stringify(event.details) : null,
      created_at: deps.clock.now(),
    })
    .execute()
}
