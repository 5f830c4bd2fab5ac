import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Db } from '../db/database.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import type { AuditEvent } from '../audit/audit-event.store.js'

/** What every admin operation needs; the CLI and the admin API both have it. */
export interface AdminDeps {
  db: Db
  clock: Clock
  log: Logger
  config: Config
}

/** Who acts: the operator at the CLI, or an admin client through the API. */
export type Actor = { kind: 'cli' } | { kind: 'client'; clientId: string; ip: string | null }

/**
 * Records an admin action with its actor: the acting client in client_id (details.actor says
 * "admin_api") or details.actor "cli". What the action was about goes in the details.
 */
export async function auditAdminAction(
  deps: AdminDeps,
  actor: Actor,
  event: Omit<AuditEvent, 'clientId' | 'ip'>,
): Promise<void> {
  await recordAuditEvent(deps, {
    ...event,
    clientId: actor.kind === 'client' ? actor.clientId : null,
    ip: actor.kind === 'client' ? actor.ip : null,
    details: { ...event.details, actor: actor.kind === 'client' ? 'admin_api' : 'cli' },
  })
}
