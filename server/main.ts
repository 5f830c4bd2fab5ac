import { randomBytes } from 'node:crypto'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { openKeystore, type Keystore } from '../keys/keystore.js'
import { deriveSecret, loadKek } from '../keys/kek.js'
import { rotateNow } from '../keys/key-lifecycle.js'
import { buildApp } from './app.js'
import type { Redis } from 'ioredis'
import { createClientLookup } from './clients/client-lookup.js'
import { createClientAssertions } from './clients/client-assertion.js'
import { createDpopState } from './tokens/dpop.js'
import { createRedis } from './db/create-redis.js'
import { createAccessTokenVerifier } from './sessions/verify-access-token.js'
import { samplePasswordHashes } from './users/user.store.js'
import { createLoginBackoff, createMemoryBackoffStore, createRedisBackoffStore } from './users/login-backoff.js'
import { createPasswordHasher } from './users/password-hasher.js'
import { systemClock, type Clock } from './clock.js'
import { isLoopbackHost, type Config } from './config.js'
import { createDb } from './db/create-db.js'
import { keysDb } from './db/database.js'
import { migrateToLatest } from './db/migrate.js'
import type { Deps } from './deps.js'
import { startMaintenance } from './maintenance.js'
import { stampAccessTokenLifetime } from './tokens/access-token-lifetime.store.js'
import { startWalCheckpointer } from './db/wal-checkpointer.js'
import { createMailer } from './mail/mailer.js'
import { startOutboxWorker } from './mail/deliver-outbox.js'
import { startBackchannelLogoutWorker } from './sessions/deliver-backchannel-logouts.js'
import { composeAccountMail } from './users/account-mail.js'
import { createMfaSecrets } from './mfa/mfa-secrets.js'
import { addScrapeGauge, createMetrics } from './metrics/metrics.js'
import { measureOutboxBacklog } from './mail/outbox.store.js'
import { findLiveKeys } from '../keys/signing-key.store.js'

/** How often each instance runs due key lifecycle steps and picks up keys made by others. */
const KEY_TICK_INTERVAL_MS = 5_000

/** How often expired grace-window secrets and revocation entries are purged. */
const MAINTENANCE_INTERVAL_MS = 60_000

/** How often a worker thread checkpoints SQLite's WAL (the serving connection never does). */
const WAL_CHECKPOINT_INTERVAL_MS = 1_000
/** How often each instance looks for mail that is due in the outbox. */
const OUTBOX_INTERVAL_MS = 1_000
/** How often each instance looks for back-channel logout tokens that are due. */
const BACKCHANNEL_LOGOUT_INTERVAL_MS = 1_000

/** In-flight requests get this long to finish after SIGTERM (orchestrators usually allow 30 s). */
const SHUTDOWN_DEADLINE_MS = 10_000

export interface Latchkey {
  app: FastifyInstance
  deps: Deps
  close(): Promise<void>
}

/** createDb → migrate → openKeystore → buildApp, in the order each needs the last. */
export async function assemble(config: Config, log: Logger, clock: Clock = systemClock): Promise<Latchkey> {
  const metrics = createMetrics()
  const onScrapeError = (error: unknown) =>
    log.warn({ event: 'metrics.read_failed', err: error }, 'a metric could not be read for this scrape')
  const db = createDb(config.database, config.databasePool, { metrics, onScrapeError })
  let keystore: Keystore | undefined
  let redis: Redis | null = null
  try {
    const applied = await migrateToLatest(db)
    if (applied.length > 0) log.info({ event: 'db.migrated', migrations: applied }, 'database migrated')
    // The revocation feed keeps entries as long as any lifetime in use can keep a token alive.
    await stampAccessTokenLifetime(db, config.accessTokenTtlMs, clock.now())
    const kek = loadKek(config, log)
    keystore = await openKeystore({ db: keysDb(db), config, kek, log, clock })
    const opened = keystore
    redis = config.redisUrl === null ? null : await createRedis(config.redisUrl)
    const deps: Deps = {
      config,
      db,
      keystore,
      clock,
      log,
      redis,
      findClient: createClientLookup({ db, clock }),
      clientAssertions: createClientAssertions({
        db,
        redis,
        clock,
        onKeySetError: (error, uri) =>
          log.warn(
            { event: 'client_jwks.fetch_failed', jwks_uri: uri, err: error },
            'a client key set could not be fetched',
          ),
      }),
      passwordHasher: createPasswordHasher({
        params: config.argon2,
        metrics,
        storedHashes: {
          sample: () => samplePasswordHashes(db, randomBytes(16).toString('base64url'), 500),
          now: () => clock.now(),
        },
      }),
      loginBackoff: createLoginBackoff(
        redis === null ? createMemoryBackoffStore() : createRedisBackoffStore(redis),
        clock,
        deriveSecret(kek, 'login-backoff-keys'),
      ),
      verifier: createAccessTokenVerifier({ keystore, config, db, clock }),
      firstPartyAudiences: [...new Set([config.issuer, config.defaultAudience])],
      mailer: createMailer(config, log),
      mfaSecrets: await createMfaSecrets(kek),
      composeMail: (row) => composeAccountMail(deps, row),
      metrics,
      dpop: createDpopState({ db, redis, clock }, deriveSecret(kek, 'dpop-nonces')),
      rotateSigningKeys: async (options) => {
        const result = await rotateNow({ db: keysDb(db), config, kek, log }, clock.now(), options)
        // This instance signs with the new key at once; the others pick it up at their next tick.
        await opened.tick()
        return result
      },
    }
    observeState(deps, onScrapeError)
    const app = await buildApp(deps)
    const openedRedis = redis
    return {
      app,
      deps,
      async close() {
        await app.close()
        await stampAccessTokenLifetime(db, config.accessTokenTtlMs, clock.now()).catch((error: unknown) =>
          log.warn({ event: 'token_lifetime.stamp_failed', err: error }, 'could not record the token lifetime'),
        )
        opened.close()
        deps.mailer.close()
        await db.destroy()
        openedRedis?.disconnect()
      },
    }
  } catch (error) {
    keystore?.close()
    redis?.disconnect()
    await db.destroy()
    throw error
  }
}

/** Gauges read when Prometheus scrapes: state that lives in the database or in another module. */
function observeState(deps: Deps, onError: (error: unknown) => void): void {
  const { metrics, db, clock, config } = deps
  addScrapeGauge(
    metrics,
    {
      name: 'latchkey_password_hashing_queue',
      help: 'The argon2 queue: jobs running and waiting now, and its limits (concurrency, max_queue; beyond both, 503).',
      labelNames: ['state'],
    },
    async () => {
      const { running, queued } = deps.passwordHasher.stats()
      const { concurrency, maxQueue } = deps.passwordHasher.limits()
      return [
        { labels: { state: 'running' }, value: running },
        { labels: { state: 'queued' }, value: queued },
        { labels: { state: 'concurrency' }, value: concurrency },
        { labels: { state: 'max_queue' }, value: maxQueue },
      ]
    },
    onError,
  )
  addScrapeGauge(
    metrics,
    { name: 'latchkey_mail_outbox_pending', help: 'Mails in the outbox not yet sent (shared by every instance).' },
    async () => [{ value: (await measureOutboxBacklog(db)).pending }],
    onError,
  )
  addScrapeGauge(
    metrics,
    {
      name: 'latchkey_mail_outbox_oldest_pending_age_seconds',
      help: 'Age of the oldest mail not yet sent; 0 when none waits.',
    },
    async () => {
      const { oldestCreatedAt } = await measureOutboxBacklog(db)
      return [{ value: oldestCreatedAt === null ? 0 : Math.max(0, clock.now() - oldestCreatedAt) / 1000 }]
    },
    onError,
  )
  addScrapeGauge(
    metrics,
    {
      name: 'latchkey_signing_key_age_seconds',
      help: 'Age of each live signing key since it was created, by kid and state (next, active, retired).',
      labelNames: ['kid', 'state'],
    },
    async () =>
      (await findLiveKeys(keysDb(db))).map((key) => ({
        labels: { kid: key.kid, state: key.state },
        value: Math.max(0, clock.now() - key.created_at) / 1000,
      })),
    onError,
  )
  addScrapeGauge(
    metrics,
    {
      name: 'latchkey_signing_key_next_rotation_timestamp_seconds',
      help: 'When the active key is due to hand over to the next one (activation + LATCHKEY_KEY_ROTATION_INTERVAL).',
    },
    async () => {
      const active = (await findLiveKeys(keysDb(db))).find((key) => key.state === 'active')
      if (active === undefined) return []
      return [{ value: ((active.activated_at ?? active.created_at) + config.keyRotationIntervalMs) / 1000 }]
    },
    onError,
  )
}

/** `latchkey serve`: listen, tick keys, and on SIGTERM/SIGINT let in-flight requests finish before closing. */
export async function serve(config: Config, log: Logger): Promise<void> {
  const latchkey = await assemble(config, log)
  latchkey.deps.keystore.startTicking(KEY_TICK_INTERVAL_MS)
  const maintenance = startMaintenance(latchkey.deps, MAINTENANCE_INTERVAL_MS)
  const checkpointer =
    config.database.dialect === 'sqlite'
      ? await startWalCheckpointer(latchkey.deps, config.database.file, { intervalMs: WAL_CHECKPOINT_INTERVAL_MS })
      : null
  const outbox = startOutboxWorker(latchkey.deps, OUTBOX_INTERVAL_MS)
  const backchannelLogouts = startBackchannelLogoutWorker(latchkey.deps, BACKCHANNEL_LOGOUT_INTERVAL_MS)
  await latchkey.app.listen({ port: config.port, host: config.host })
  log.info(
    { event: 'server.started', issuer: config.issuer, alg: config.signingAlg },
    `Latchkey is serving ${config.issuer}`,
  )
  if (config.smtpUrl === null) {
    const dir = path.join(config.dataDir, 'outbox')
    // Fine on a developer's machine; anywhere else the files hold live reset links and nobody reads them.
    const level = isLoopbackHost(new URL(config.publicUrl).hostname) ? 'info' : 'warn'
    log[level](
      { event: 'mail.outbox_dir', dir },
      `SMTP_URL is not set: emails are written to ${dir}${level === 'warn' ? ' and never sent; set SMTP_URL' : ''}`,
    )
  }

  let closing = false
  const shutdown = (signal: string) => {
    if (closing) return
    closing = true
    log.info({ event: 'server.stopping', signal }, 'shutting down')
    // Keep-alive connections that finish their request after close began would otherwise hold
    // the process open until their idle timeout; stragglers are cut after a deadline.
    const server = latchkey.app.server
    const reaper = setInterval(() => server.closeIdleConnections(), 100)
    const deadline = setTimeout(() => server.closeAllConnections(), SHUTDOWN_DEADLINE_MS)
    reaper.unref()
    deadline.unref()
    clearInterval(maintenance)
    // A message being sent finishes first; one cut off by the deadline is sent again after restart.
    Promise.all([outbox.stop(), backchannelLogouts.stop(), checkpointer?.stop()])
      .then(() => latchkey.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed')
          process.exit(1)
        },
      )
  }
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))
}
