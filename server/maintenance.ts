import { setImmediate as yieldToRequests } from 'node:timers/promises'
import type { Deps } from './deps.js'
import { deleteRefreshTokensIdleBefore, eraseExpiredSuccessors } from './sessions/refresh-token.store.js'
import { deleteRevokedAccessTokensExpiredBy } from './sessions/revoked-access-token.store.js'
import { deleteExpiredAuthorizationCodes } from './sessions/authorization-code.store.js'
import { deleteExpiredDeviceAuthorizations } from './sessions/device-authorization.store.js'
import { deleteSessionsEndedBefore } from './sessions/session.store.js'
import { deleteSigninsEndedBefore } from './sessions/signin-session.store.js'
import { deleteExpiredAccountTokens } from './users/account-token.store.js'
import { deleteExpiredMfaChallenges } from './mfa/mfa-challenge.store.js'
import { deleteAuditEventsBefore } from './audit/audit-event.store.js'
import { deleteExpiredAssertionJtis } from './clients/client-assertion-jti.store.js'
import { deleteExpiredDpopProofJtis } from './tokens/dpop-proof-jti.store.js'
import {
  findLifetimesInReach,
  longestLifetimeInReach,
  stampAccessTokenLifetime,
  type UsedLifetime,
} from './tokens/access-token-lifetime.store.js'
import { purgeFinishedBackchannelLogouts } from './sessions/deliver-backchannel-logouts.js'

/**
 * Rows per DELETE: each batch is its own short statement, so no purge holds a lock (SQLite's one
 * writer, PostgreSQL's row locks) for longer than a few milliseconds, and requests run between
 * batches.
 */
export const RETENTION_BATCH_SIZE = 500
/** At most this many batches per table per run; a larger backlog is worked off over later runs. */
const MAX_BATCHES_PER_RUN = 40

type MaintenanceDeps = Pick<Deps, 'db' | 'clock' | 'config' | 'metrics'>

/** What each table may lose, and from when (epoch ms), at `now`. */
function retentionRules(deps: MaintenanceDeps, now: number, lifetimes: UsedLifetime[]) {
  const { db, config } = deps
  // An access token can be presented until its expiry plus clock skew: the session it names must
  // still be found (or listed in the revocation feed) until then, under the longest lifetime in use.
  const accessTokenReach = longestLifetimeInReach(config.accessTokenTtlMs, lifetimes) + config.clockSkewMs
  return [
    // Before sessions: a long session's used tokens go batch by batch, not in one cascade.
    { table: 'refresh_tokens', purge: (n: number) => deleteRefreshTokensIdleBefore(db, now, n) },
    { table: 'sessions', purge: (n: number) => deleteSessionsEndedBefore(db, now - accessTokenReach, n) },
    { table: 'signin_sessions', purge: (n: number) => deleteSigninsEndedBefore(db, now, n) },
    { table: 'mfa_challenges', purge: (n: number) => deleteExpiredMfaChallenges(db, now, n) },
    { table: 'dpop_proof_jtis', purge: (n: number) => deleteExpiredDpopProofJtis(db, now, n) },
    // Used codes outlive their 60 s by ten minutes, so a late replay still revokes what they issued.
    { table: 'authorization_codes', purge: (n: number) => deleteExpiredAuthorizationCodes(db, now - 10 * 60_000, n) },
    { table: 'device_authorizations', purge: (n: number) => deleteExpiredDeviceAuthorizations(db, now, n) },
    {
      table: 'revoked_access_tokens',
      // Kept until it would have expired anyway, plus the skew the revocation feed keeps it for.
      purge: (n: number) => deleteRevokedAccessTokensExpiredBy(db, now - config.clockSkewMs, n),
    },
    {
      table: 'password_reset_tokens',
      purge: (n: number) => deleteExpiredAccountTokens(db, 'password_reset_tokens', now, n),
    },
    {
      table: 'email_verification_tokens',
      purge: (n: number) => deleteExpiredAccountTokens(db, 'email_verification_tokens', now, n),
    },
    { table: 'client_assertion_jtis', purge: (n: number) => deleteExpiredAssertionJtis(db, now, n) },
    { table: 'audit_events', purge: (n: number) => deleteAuditEventsBefore(db, now - config.auditRetentionMs, n) },
    // Delivered, failed or discarded logout tokens, a week after (pending ones are never purged).
    { table: 'backchannel_logouts', purge: (n: number) => purgeFinishedBackchannelLogouts(deps, now, n) },
  ]
}

/**
 * Periodic clean-up, on every instance (each batch is an idempotent DELETE, so instances running it
 * at once only share the work): a refresh token's successor is kept (encrypted) only while its grace
 * window is open, and expired or ended rows are purged in bounded batches (see retentionRules).
 */
export async function runMaintenance(deps: MaintenanceDeps): Promise<Record<string, number>> {
  const started = performance.now()
  const now = deps.clock.now()
  const purged: Record<string, number> = {}
  await stampAccessTokenLifetime(deps.db, deps.config.accessTokenTtlMs, now)
  const lifetimes = await findLifetimesInReach(deps.db, now, deps.config.clockSkewMs)
  await eraseExpiredSuccessors(deps.db, now)
  for (const { table, purge } of retentionRules(deps, now, lifetimes)) {
    let total = 0
    for (let batch = 0; batch < MAX_BATCHES_PER_RUN; batch++) {
      const deleted = await purge(RETENTION_BATCH_SIZE)
      total += deleted
      if (deleted < RETENTION_BATCH_SIZE) break
      await yieldToRequests()
    }
    purged[table] = total
    deps.metrics.retentionPurged.inc({ table }, total)
  }
  deps.metrics.maintenanceDuration.observe((performance.now() - started) / 1000)
  deps.metrics.maintenanceLastSuccess.set(deps.clock.now() / 1000)
  return purged
}

export function startMaintenance(
  deps: Pick<Deps, 'db' | 'clock' | 'log' | 'config' | 'metrics'>,
  intervalMs: number,
): NodeJS.Timeout {
  let running = false
  const timer = setInterval(() => {
    // A run that outlasts the interval (a large backlog) is not joined by a second one.
    if (running) return
    running = true
    runMaintenance(deps)
      .catch((error: unknown) => {
        deps.metrics.maintenanceFailures.inc()
        deps.log.error({ event: 'maintenance.failed', err: error }, 'maintenance failed')
      })
      .finally(() => {
        running = false
      })
  }, intervalMs)
  timer.unref()
  return timer
}
