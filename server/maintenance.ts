import type { Deps } from './deps.js'
import { eraseExpiredSuccessors } from './sessions/refresh-token.store.js'
import { deleteExpiredAccountTokens } from './users/account-token.store.js'

/**
 * Periodic clean-up: a refresh token's successor is kept (encrypted) only while its grace
 * window is open, and a revoked access token only until it would have expired anyway.
 */
export async function runMaintenance(deps: Pick<Deps, 'db' | 'clock'>): Promise<void> {
  const now = deps.clock.now()
  await eraseExpiredSuccessors(deps.db, now)
  await deps.db.deleteFrom('revoked_access_tokens').where('expires_at', '<=', now).execute()
  await deleteExpiredAccountTokens(deps.db, now)
}

export function startMaintenance(deps: Pick<Deps, 'db' | 'clock' | 'log'>, intervalMs: number): NodeJS.Timeout {
  const timer = setInterval(() => {
    runMaintenance(deps).catch((error: unknown) => deps.log.error({ event: 'maintenance.failed', err: error }, 'maintenance failed'))
  }, intervalMs)
  timer.unref()
  return timer
}
