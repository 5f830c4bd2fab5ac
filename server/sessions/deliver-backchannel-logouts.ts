import type { Deps } from '../deps.js'
import { findClientById } from '../clients/client.store.js'
import { drainQueue, retryDelayMs, startQueueWorker, type QueueWorker } from '../db/outbox-queue.js'
import {
  claimDueBackchannelLogouts,
  deleteBackchannelLogoutsFinishedBefore,
  finishBackchannelLogout,
  scheduleBackchannelLogoutRetry,
} from './backchannel-logout.store.js'
import type { BackchannelLogoutRow } from './backchannel-logout.table.js'

/** One POST to a client waits at most this long (a slow client must not hold the worker). */
const BACKCHANNEL_REQUEST_TIMEOUT_MS = 5_000
/** A worker holds a claimed row this long: above the request timeout, so only a crashed worker loses one. */
const BACKCHANNEL_CLAIM_LEASE_MS = 30_000
const BATCH_SIZE = 10
/**
 * A batch waits for its slowest request, so one client gets at most this many rows of it: an app
 * whose endpoint never answers holds its own tokens back, not every other app's.
 */
const BATCH_ROWS_PER_CLIENT = 2
/** Retried with the mail outbox's back-off (30 s, 1 min, 2 min … capped at 1 h), given up after this many. */
const BACKCHANNEL_MAX_ATTEMPTS = 10
/** A logout token is good for this long after it is signed (OIDC Back-Channel Logout §2.4: "a few minutes"). */
const LOGOUT_TOKEN_TTL_S = 120
/** Finished rows stay this long for operators to look at (purged by maintenance). */
const KEEP_FINISHED_BACKCHANNEL_LOGOUTS_MS = 7 * 86_400_000

const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'

export type BackchannelDeliveryDeps = Pick<Deps, 'db' | 'clock' | 'config' | 'keystore' | 'log'>

export interface BackchannelDeliveryReport {
  delivered: number
  retrying: number
  failed: number
  discarded: number
}

/**
 * Posts every logout token that is due, batch by batch, until none is left. Safe on several
 * instances at once (each row is claimed by one). Tests call it directly with a moved clock;
 * `serve` runs it on a timer through startBackchannelLogoutWorker.
 */
export async function deliverDueBackchannelLogouts(
  deps: BackchannelDeliveryDeps,
  signal?: AbortSignal,
): Promise<BackchannelDeliveryReport> {
  const report: BackchannelDeliveryReport = { delivered: 0, retrying: 0, failed: 0, discarded: 0 }
  await drainQueue(
    () =>
      claimDueBackchannelLogouts(
        deps.db,
        deps.clock.now(),
        BACKCHANNEL_CLAIM_LEASE_MS,
        BATCH_SIZE,
        BATCH_ROWS_PER_CLIENT,
      ),
    async (row) => {
      report[await deliverOne(deps, row)]++
    },
    signal,
  )
  return report
}

/** OIDC Back-Channel Logout 1.0 §2.4: the logout token, typed `logout+jwt` (§4.1), never with a nonce. */
async function signLogoutToken(deps: BackchannelDeliveryDeps, row: BackchannelLogoutRow): Promise<string> {
  const iat = Math.floor(deps.clock.now() / 1000)
  return deps.keystore.sign(
    {
      iss: deps.config.issuer,
      aud: row.client_id,
      iat,
      exp: iat + LOGOUT_TOKEN_TTL_S,
      jti: row.id,
      sub: row.user_id,
      sid: row.session_id,
      events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    },
    'logout+jwt',
  )
}

type Attempt = { ok: true } | { ok: false; permanent: boolean; reason: string }

/** §2.5: a form POST of `logout_token`; §2.8: 200 (any 2xx here) means done; redirects are not followed. */
async function post(uri: string, token: string): Promise<Attempt> {
  let response: Response
  try {
    response = await fetch(uri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'cache-control': 'no-cache' },
      body: new URLSearchParams({ logout_token: token }).toString(),
      redirect: 'manual',
      signal: AbortSignal.timeout(BACKCHANNEL_REQUEST_TIMEOUT_MS),
    })
    await response.body?.cancel()
  } catch (error) {
    const name = error instanceof Error ? ((error.cause as { code?: string } | undefined)?.code ?? error.name) : 'Error'
    return { ok: false, permanent: false, reason: String(name).slice(0, 40) }
  }
  if (response.status >= 200 && response.status < 300) return { ok: true }
  // A client that is down or overloaded may take it later; one that refuses the token (400) or
  // redirects will refuse it again.
  const transient = response.status >= 500 || response.status === 408 || response.status === 429
  return { ok: false, permanent: !transient, reason: `HTTP ${response.status}` }
}

async function deliverOne(
  deps: BackchannelDeliveryDeps,
  row: BackchannelLogoutRow,
): Promise<keyof BackchannelDeliveryReport> {
  const client = await findClientById(deps.db, row.client_id)
  if (client === null || client.backchannelLogoutUri === null) {
    await finishBackchannelLogout(deps.db, row.id, 'discarded', deps.clock.now())
    return 'discarded'
  }
  const attempt = await post(client.backchannelLogoutUri, await signLogoutToken(deps, row))
  const now = deps.clock.now()
  const facts = { logoutId: row.id, clientId: row.client_id, attempt: row.attempts }
  if (attempt.ok) {
    await finishBackchannelLogout(deps.db, row.id, 'delivered', now)
    deps.log.info({ event: 'backchannel_logout.delivered', ...facts }, 'logout token delivered')
    return 'delivered'
  }
  if (attempt.permanent || row.attempts >= BACKCHANNEL_MAX_ATTEMPTS) {
    await finishBackchannelLogout(deps.db, row.id, 'failed', now, attempt.reason)
    deps.log.error(
      { event: 'backchannel_logout.failed', ...facts, error: attempt.reason },
      'logout token could not be delivered; giving up',
    )
    return 'failed'
  }
  const retryAt = now + retryDelayMs(row.attempts)
  await scheduleBackchannelLogoutRetry(deps.db, row.id, retryAt, attempt.reason)
  deps.log.warn(
    { event: 'backchannel_logout.retry', ...facts, retryAt: new Date(retryAt).toISOString(), error: attempt.reason },
    'logout token delivery failed; will retry',
  )
  return 'retrying'
}

/** Runs deliverDueBackchannelLogouts every `intervalMs`, never two at once. */
export function startBackchannelLogoutWorker(deps: BackchannelDeliveryDeps, intervalMs: number): QueueWorker {
  return startQueueWorker(
    intervalMs,
    async (signal) => {
      await deliverDueBackchannelLogouts(deps, signal)
    },
    (error) =>
      deps.log.error({ event: 'backchannel_logout.worker_failed', err: error }, 'back-channel logout worker failed'),
  )
}

/** For maintenance: finished rows older than the keeping period, one batch. */
export function purgeFinishedBackchannelLogouts(deps: Pick<Deps, 'db'>, now: number, limit: number): Promise<number> {
  return deleteBackchannelLogoutsFinishedBefore(deps.db, now - KEEP_FINISHED_BACKCHANNEL_LOGOUTS_MS, limit)
}
