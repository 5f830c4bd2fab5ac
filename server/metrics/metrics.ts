import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

// Every instrument lives on one Registry built by main.ts (no module singleton: prom-client's global
// registry is never used), so two apps in one process (tests, the cluster test) never share counts.

/** Latency buckets in seconds: a token request takes milliseconds, a login ~20–100 ms of argon2. */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
const QUERY_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1]

const refreshOutcomes = ['rotated', 'grace_replay', 'reuse_detected', 'invalid'] as const

const loginOutcomes = [
  'success',
  'bad_credentials',
  'throttled',
  'second_factor_needed',
  'busy',
  'email_not_verified',
  'rejected',
] as const
export type LoginOutcome = (typeof loginOutcomes)[number]

export function createMetrics() {
  const registry = new Registry()
  const registers = [registry]
  // process_* (CPU, memory, open fds, start time) and nodejs_* (event-loop lag, GC, heap, handles).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 })

  const metrics = {
    registry,
    httpRequestDuration: new Histogram({
      name: 'latchkey_http_request_duration_seconds',
      help: 'Time from request to response, by route pattern (never the raw path) and status class.',
      labelNames: ['method', 'route', 'status_class'] as const,
      buckets: REQUEST_BUCKETS,
      registers,
    }),
    tokensIssued: new Counter({
      name: 'latchkey_tokens_issued_total',
      help: 'Access tokens issued, by grant: the /oauth/token grant types, and password_login and session_refresh for the first-party /auth API.',
      labelNames: ['grant'] as const,
      registers,
    }),
    refreshes: new Counter({
      name: 'latchkey_refresh_total',
      help: 'Refresh-token presentations by outcome: rotated, grace_replay (same successor within the grace window), reuse_detected (family revoked), invalid.',
      labelNames: ['outcome'] as const,
      registers,
    }),
    logins: new Counter({
      name: 'latchkey_login_total',
      help: 'Password sign-ins (API and hosted page) by outcome: success, bad_credentials, throttled, second_factor_needed, busy, email_not_verified, rejected (malformed).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    hashingWait: new Histogram({
      name: 'latchkey_password_hashing_wait_seconds',
      help: 'Time an argon2 job waited in the bounded hashing queue before it started.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    hashingRejected: new Counter({
      name: 'latchkey_password_hashing_rejected_total',
      help: 'argon2 jobs refused because the hashing queue was full (answered 503).',
      registers,
    }),
    mailDeliveries: new Counter({
      name: 'latchkey_mail_deliveries_total',
      help: 'Outbox delivery attempts by outcome: sent, retrying (failed, will retry), failed (gave up), discarded.',
      labelNames: ['outcome'] as const,
      registers,
    }),
    revocationFeedEntries: new Gauge({
      name: 'latchkey_revocation_feed_entries',
      help: 'Entries in the last revocation feed snapshot read by this instance, by kind.',
      labelNames: ['kind'] as const,
      registers,
    }),
    revocationFeedBytes: new Gauge({
      name: 'latchkey_revocation_feed_snapshot_bytes',
      help: 'Size of the full revocation feed as served.',
      registers,
    }),
    revocationFeedReadAt: new Gauge({
      name: 'latchkey_revocation_feed_last_read_timestamp_seconds',
      help: 'When this instance last read the revocation feed from the database (it reads on demand, at most once a second).',
      registers,
    }),
    revocationFeedReadFailures: new Counter({
      name: 'latchkey_revocation_feed_read_failures_total',
      help: 'Revocation feed reads that failed (the database did not answer).',
      registers,
    }),
    rateLimitStoreErrors: new Counter({
      name: 'latchkey_rate_limit_store_errors_total',
      help: 'Rate-limit counts that failed because the shared store (Redis) did not answer; the request was let through uncounted.',
      registers,
    }),
    dbQueryDuration: new Histogram({
      name: 'latchkey_db_query_duration_seconds',
      help: 'Database statement durations by kind (select, insert, update, delete, other) and result.',
      labelNames: ['kind', 'result'] as const,
      buckets: QUERY_BUCKETS,
      registers,
    }),
    retentionPurged: new Counter({
      name: 'latchkey_retention_purged_rows_total',
      help: 'Rows removed by the maintenance job, by table.',
      labelNames: ['table'] as const,
      registers,
    }),
    maintenanceDuration: new Histogram({
      name: 'latchkey_maintenance_duration_seconds',
      help: 'Duration of one maintenance run (every purge, batch by batch).',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
      registers,
    }),
    maintenanceFailures: new Counter({
      name: 'latchkey_maintenance_failures_total',
      help: 'Maintenance runs that failed.',
      registers,
    }),
    maintenanceLastSuccess: new Gauge({
      name: 'latchkey_maintenance_last_success_timestamp_seconds',
      help: 'When the last maintenance run finished without error.',
      registers,
    }),
  }
  // Every outcome from the start, so rate() and absent() see zeroes rather than missing series.
  for (const outcome of refreshOutcomes) metrics.refreshes.inc({ outcome }, 0)
  for (const outcome of loginOutcomes) metrics.logins.inc({ outcome }, 0)
  return metrics
}

export type Metrics = ReturnType<typeof createMetrics>

/**
 * A gauge whose values are read when Prometheus scrapes (queue depth, outbox backlog, key ages):
 * no timer, no stale copy. A failed read leaves the series out of this scrape and logs why; the
 * scrape itself still answers.
 */
export function addScrapeGauge<L extends string>(
  metrics: Pick<Metrics, 'registry'>,
  definition: { name: string; help: string; labelNames?: readonly L[] },
  read: () => Promise<Array<{ labels?: Partial<Record<L, string>>; value: number }>>,
  onError: (error: unknown) => void,
): void {
  new Gauge<L>({
    name: definition.name,
    help: definition.help,
    labelNames: definition.labelNames ?? [],
    registers: [metrics.registry],
    async collect() {
      this.reset()
      try {
        for (const { labels, value } of await read()) {
          if (labels) this.set(labels, value)
          else this.set(value)
        }
      } catch (error) {
        onError(error)
      }
    },
  })
}
