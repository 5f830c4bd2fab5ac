import { InvalidRequest } from '../errors.js'
import { isAuditEventName } from '../audit/audit-event-name.js'
import { listAuditEvents, type StoredAuditEvent } from '../audit/audit-event.store.js'
import type { AdminDeps } from './admin-actor.js'
import { decodeCursor, readPage } from './page-cursor.js'

export function viewAuditEvent(e: StoredAuditEvent) {
  return {
    id: e.id,
    type: e.event,
    user_id: e.userId,
    client_id: e.clientId,
    session_id: e.sessionId,
    ip: e.ip,
    details: e.details ?? {},
    created_at: new Date(e.createdAt).toISOString(),
  }
}

const durationUnits: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `since` is a duration back from now (`1h`, `7d`) or an ISO 8601 instant. */
function parseSince(text: string, now: number): number {
  const match = /^(\d{1,9})([smhd])$/.exec(text)
  if (match) return now - Number(match[1]) * durationUnits[match[2]!]!
  if (/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(text)) {
    const at = Date.parse(text)
    if (!Number.isNaN(at)) return at
  }
  throw new InvalidRequest('since must be a duration like 1h or 7d, or an ISO 8601 date')
}

/** Audit events, newest first, filtered by type, user and time, a page at a time. */
export function queryAuditEvents(
  deps: AdminDeps,
  filter: { type?: string; userId?: string; since?: string },
  page: { cursor?: string; limit?: string | number },
) {
  if (filter.type !== undefined && !isAuditEventName(filter.type))
    throw new InvalidRequest(`type is not an audit event name (docs/operations.md lists them)`)
  const since = filter.since === undefined ? undefined : parseSince(filter.since, deps.clock.now())
  const before = decodeCursor(page.cursor)
  return readPage(
    page.limit,
    (limit) =>
      listAuditEvents(
        deps.db,
        {
          ...(filter.type !== undefined && isAuditEventName(filter.type) ? { event: filter.type } : {}),
          ...(filter.userId !== undefined ? { userId: filter.userId } : {}),
          ...(since !== undefined ? { since } : {}),
        },
        { limit, before },
      ),
    (e) => ({ createdAt: e.createdAt, id: e.id }),
    viewAuditEvent,
  )
}
