import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { Db } from '../db/database.js'
import { insertAuditEvent, type AuditEvent } from './audit-event.store.js'

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
  await insertAuditEvent(deps.db, event, deps.clock.now())
}
