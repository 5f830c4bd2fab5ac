import type { Logger } from 'pino'
import type { Redis } from 'ioredis'
import type { Keystore } from '../keys/keystore.js'
import type { RotationResult } from '../keys/key-lifecycle.js'
import type { FindClient } from './clients/client-lookup.js'
import type { ClientAssertions } from './clients/client-assertion.js'
import type { Clock } from './clock.js'
import type { Config } from './config.js'
import type { Db } from './db/database.js'
import type { ComposeMail } from './mail/compose-mail.js'
import type { Mailer } from './mail/mailer.js'
import type { MfaSecrets } from './mfa/mfa-secrets.js'
import type { Metrics } from './metrics/metrics.js'
import type { AccessTokenVerifier } from './sessions/verify-access-token.js'
import type { DpopState } from './tokens/dpop.js'
import type { createLoginBackoff } from './users/login-backoff.js'
import type { createPasswordHasher } from './users/password-hasher.js'

/** Built once by main.ts; functions take the narrowest slice they need. */
export interface Deps {
  config: Config
  db: Db
  keystore: Keystore
  clock: Clock
  log: Logger
  /** Cached client lookup for authenticating OAuth requests. */
  findClient: FindClient
  /** private_key_jwt: the clients' fetched key sets and the client assertions already used. */
  clientAssertions: ClientAssertions
  /** argon2id behind one bounded queue. */
  passwordHasher: ReturnType<typeof createPasswordHasher>
  /** Per-account progressive back-off (in Redis when REDIS_URL is set). */
  loginBackoff: ReturnType<typeof createLoginBackoff>
  /** Checks Latchkey's own access tokens, signature and revocation. */
  verifier: AccessTokenVerifier
  /** Audiences that make an access token good for Latchkey's own API. */
  firstPartyAudiences: string[]
  /** Shared rate-limit and back-off state for several instances; null without REDIS_URL. */
  redis: Redis | null
  /** Sends what the outbox worker composes: SMTP, or .eml files in DATA_DIR/outbox/. */
  mailer: Mailer
  /** Keys derived from the KEK that seal TOTP secrets and hash recovery codes. */
  mfaSecrets: MfaSecrets
  /** Rotates the signing keys now (the admin API); holds the KEK so nothing else has to. */
  rotateSigningKeys: (options: { revokeCurrent: boolean }) => Promise<RotationResult>
  /** What the outbox worker sends for each row (the account mails). */
  composeMail: ComposeMail
  /** This instance's Prometheus registry and instruments, served at /metrics. */
  metrics: Metrics
  /** DPoP (RFC 9449) server nonces and the proof jti store shared by every instance. */
  dpop: DpopState
}
