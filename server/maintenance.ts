import type { Deps } from './deps.js'
import { eraseExpiredSuccessors } from './sessions/refresh-token.store.js'
import { deleteRevokedAccessTokensExpiredBy } from './sessions/revoked-access-token.store.js'
import { deleteExpiredAuthorizationCodes } from './sessions/authorization-code.store.js'
import { deleteExpiredAccountTokens } from './users/account-token.store.js'
import { deleteExpiredMfaChallenges } from './mfa/mfa-challenge.store.js'

/**
 * Periodic clean-up: a refresh token's successor is kept (encrypted) only while its grace
 * window is open, and a revoked access token only until it would have expired anyway, plus the
 * clock skew the revocation feed keeps it for (a verifier's leeway may still accept it until then).
 */
export async function runMaintenance(deps: Pick<Deps, 'db' | 'clock' | 'config'>): Promise<void> {
  const now = deps.clock.now()
  await eraseExpiredSuccessors(deps.db, now)
  await deleteRevokedAccessTokensExpiredBy(deps.db, now - deps.config.clockSkewMs)
  // Used codes outlive their 60 s by ten minutes, so a late replay still revokes what they issued.
  await deleteExpiredAuthorizationCodes(deps.db, now - 10 * 60_000)
  await deleteExpiredAccountTokens(deps.db, now)
  await deleteExpiredMfaChallenges(deps.db, now)
}

export function startMaintenance(
  deps: Pick<Deps, 'db' | 'clock' | 'log' | 'config'>,
  intervalMs: number,
): NodeJS.Timeout {
  const timer = setInterval(() => {
    runMaintenance(deps).catch((error: unknown) =>
      deps.log.error({ event: 'maintenance.failed', err: error }, 'maintenance failed'),
    )
  }, intervalMs)
  timer.unref()
  return timer
}
