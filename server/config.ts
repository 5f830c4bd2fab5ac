import path from 'node:path'
import { isIP } from 'node:net'
import { Type, type StaticDecode, type TSchema, type TTransform } from '@sinclair/typebox'
import { TransformDecodeError, Value } from '@sinclair/typebox/value'
import { findAbsoluteUriProblem, findOriginProblem, findServerUrlProblem } from './url-rules.js'

// The only reader of process.env. loadConfig checks every variable against one TypeBox schema,
// reports every bad variable at once, and maps the result to a frozen camelCase Config; nothing
// else in the code base parses settings. Nothing here runs at import time but building the schema.

// main.ts asks this module whether the public URL is loopback; the rule itself lives in url-rules.ts.
export { isLoopbackHost } from './url-rules.js'

import { signingAlgorithms, type SigningAlg } from '../keys/generate-signing-key.js'

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof logLevels)[number]

export type DatabaseConfig = { dialect: 'sqlite'; file: string } | { dialect: 'postgres'; url: string }

/** PostgreSQL pool settings (DATABASE_POOL_MAX, DATABASE_STATEMENT_TIMEOUT, DATABASE_CONNECT_TIMEOUT). */
export interface DatabasePool {
  /** Connections per instance; the sum over instances must stay below the server's max_connections. */
  max: number
  /** Server-side statement_timeout: a statement running longer is cancelled (answered as 503). */
  statementTimeoutMs: number
  /** How long a request waits to connect, or for a free pooled connection, before giving up (503). */
  connectTimeoutMs: number
}

export type TrustProxy = false | number | string[]

export interface Config {
  port: number
  host: string
  issuer: string
  dataDir: string
  database: DatabaseConfig
  databasePool: DatabasePool
  redisUrl: string | null
  /** 32-byte key-encryption key from LATCHKEY_KEK, or null to use the generated file in the data dir. */
  kek: Uint8Array | null
  signingAlg: SigningAlg
  keyRotationIntervalMs: number
  accessTokenTtlMs: number
  refreshTokenTtlMs: number
  refreshTokenIdleTtlMs: number
  refreshReuseGraceMs: number
  defaultAudience: string
  publicUrl: string
  resetTokenTtlMs: number
  /** How long a client's previous secret keeps working after a rotation (LATCHKEY_CLIENT_SECRET_OVERLAP). */
  clientSecretOverlapMs: number
  requireVerifiedEmail: boolean
  /** LATCHKEY_MFA: `required` sends every user without a second factor to enrolment at sign-in. */
  mfa: 'optional' | 'required'
  corsOrigins: string[]
  trustProxy: TrustProxy
  smtpUrl: string | null
  logLevel: LogLevel
  /** Per-IP rate limits on credential endpoints; off only where a proxy in front limits instead. */
  rateLimits: boolean
  /**
   * /oauth/token budgets per minute (docs/accounts-and-sessions.md, "Rate limits"); 0 turns one off.
   * `perClient`: authenticated requests of one client (a public client: per client and source IP).
   * `failuresPerIp`: invalid_client answers to one source, after which it is refused for the minute.
   */
  tokenRateLimits: { perClient: number; failuresPerIp: number }
  /** The token endpoint asks DPoP clients for a server nonce (RFC 9449 §8). */
  dpopNonce: boolean
  /** Minimum password length in Unicode code points (NIST SP 800-63B: at least 8; default 12). */
  passwordMinLength: number
  /** argon2id parameters (OWASP: m=19456 KiB, t=2, p=1); hashes made with others are upgraded at login. */
  argon2: { memoryCost: number; timeCost: number; parallelism: number }
  /** Product name in emails (LATCHKEY_PRODUCT_NAME). */
  productName: string
  /** From address of every email (LATCHKEY_MAIL_FROM); defaults to no-reply at the public URL's host. */
  mailFrom: string
  /** Bearer token GET /metrics requires (LATCHKEY_METRICS_TOKEN); null: loopback clients only. */
  metricsToken: string | null
  /** Audit events older than this are purged by the maintenance job (LATCHKEY_AUDIT_RETENTION). */
  auditRetentionMs: number
  /** Mean event-loop delay above which requests are refused with 503 + Retry-After (LATCHKEY_MAX_EVENT_LOOP_DELAY_MS; 0: off). */
  maxEventLoopDelayMs: number
  /** Derived: how long verifiers may cache the JWKS (Cache-Control max-age). */
  jwksMaxAgeMs: number
  /** Derived: tolerated clock difference between Latchkey and verifiers. */
  clockSkewMs: number
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

const durationUnits: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

function parseDuration(text: string): number | null {
  const match = /^(\d{1,9})(s|m|h|d)$/.exec(text.trim())
  if (!match) return null
  return Number(match[1]) * durationUnits[match[2]!]!
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const) {
    if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`
  }
  return `${Math.round(ms / 1000)}s`
}

const CLOCK_SKEW_MS = 60_000
const MAX_JWKS_MAX_AGE_MS = 300_000

// ---------------------------------------------------------------------------------------------
// Kinds of variable. Each is a TypeBox string schema (the syntax, and the default when there is one)
// whose `problem` finishes the sentence "NAME …" when a value breaks it; `echo` adds the value (never
// for values that may hold a secret). A decoder turns a well-formed value into its typed form and
// throws EnvProblem for what a pattern cannot say: ranges, URL rules, lists.
// ---------------------------------------------------------------------------------------------

/** What a decoder found wrong with a value: sentences that follow the variable's name. */
class EnvProblem extends Error {
  constructor(readonly sentences: string[]) {
    super(sentences.join('; '))
  }
}

function reject(sentence: string): never {
  throw new EnvProblem([sentence])
}

/** Values are echoed in errors, but never the credentials a URL may carry. */
function withoutCredentials(text: string): string {
  return text.replace(/\/\/[^/@\s]*@/, '//[credentials]@')
}

const got = (text: string): string => `(got "${withoutCredentials(text)}")`

/** Settings are only ever read, so the transform offers no way back. */
function decoded<S extends TSchema, T>(schema: S, decode: (value: StaticDecode<S>) => T): TTransform<S, T> {
  return Type.Transform(schema)
    .Decode(decode)
    .Encode(() => {
      throw new Error('settings are never encoded')
    })
}

function duration(fallback: string, range: { min: string; max: string }) {
  const problem = 'must be a duration like 30s, 10m, 12h or 7d'
  const schema = Type.String({ default: fallback, pattern: String.raw`^\d{1,9}[smhd]$`, problem, echo: true })
  return decoded(schema, (text) => {
    const ms = parseDuration(text) ?? Number.NaN
    const [min, max] = [parseDuration(range.min) ?? 0, parseDuration(range.max) ?? 0]
    return ms >= min && ms <= max ? ms : reject(`must be between ${range.min} and ${range.max} ${got(text)}`)
  })
}

/** A duration that `0` or `0s` turns off. */
function durationOrOff(fallback: string, max: string) {
  const problem = 'must be a duration like 10s, or 0s to disable'
  const schema = Type.String({ default: fallback, pattern: String.raw`^(?:0|\d{1,9}[smhd])$`, problem, echo: true })
  return decoded(schema, (text) => {
    const ms = text === '0' ? 0 : (parseDuration(text) ?? Number.NaN)
    return ms <= (parseDuration(max) ?? 0) ? ms : reject(`must be at most ${max} ${got(text)}`)
  })
}

/** A whole number in range; `digits` and `problem` let PORT keep its own wording. */
function integer(fallback: number, range: { min: number; max: number; digits?: number; problem?: string }) {
  const { min, max, digits = 9, problem = `must be a whole number from ${min} to ${max}` } = range
  const schema = Type.String({ default: String(fallback), pattern: `^\\d{1,${digits}}$`, problem, echo: true })
  return decoded(schema, (text) =>
    Number(text) >= min && Number(text) <= max ? Number(text) : reject(`${problem} ${got(text)}`),
  )
}

function flag(fallback: boolean) {
  const spellings = [Type.Literal('true'), Type.Literal('1'), Type.Literal('false'), Type.Literal('0')]
  const schema = Type.Union(spellings, { default: String(fallback), problem: 'must be true or false', echo: true })
  return decoded(schema, (text) => text === 'true' || text === '1')
}

/** Names only: Type.Enum skips keys that look like numbers (TypeScript's reverse mappings). */
function oneOf<T extends string>(values: readonly T[], fallback: T) {
  const names = Object.fromEntries(values.map((v) => [v, v])) as Record<T, T>
  return Type.Enum(names, { default: fallback, problem: `must be one of ${values.join(', ')}`, echo: true })
}

const serverUrlProblems = {
  not_absolute: (text: string) => `must be an absolute URL ${got(text)}`,
  not_http: (text: string) => `must be an http(s) URL ${got(text)}`,
  cleartext: (text: string) => `must use https unless its host is loopback ${got(text)}`,
  credentials: () => 'must not contain credentials',
  query: () => 'must not have a query or fragment',
  fragment: () => 'must not have a query or fragment',
}

/** Latchkey's own address, normalised (`http://localhost:80/` is `http://localhost`), without a trailing slash so endpoint URLs join cleanly. */
function withoutTrailingSlash(url: string): string {
  return new URL(url).href.replace(/\/+$/, '')
}

function serverUrl(rules: { bare: boolean }) {
  return decoded(Type.String(), (text) => {
    const problem = findServerUrlProblem(text, rules)
    return problem === null ? withoutTrailingSlash(text) : reject(serverUrlProblems[problem](text))
  })
}

function absoluteUri() {
  return decoded(Type.String(), (text) =>
    findAbsoluteUriProblem(text) === null ? text : reject(`must be an absolute URI ${got(text)}`),
  )
}

/** Never echoed: a PostgreSQL URL may hold a password. */
function parseDatabaseUrl(text: string): DatabaseConfig {
  if (/^postgres(ql)?:\/\//.test(text) && URL.canParse(text)) return { dialect: 'postgres', url: text }
  if (text.startsWith('sqlite:')) return { dialect: 'sqlite', file: path.resolve(text.slice('sqlite:'.length)) }
  return reject('must be a postgres:// URL or sqlite:<path>')
}

function parseHost(host: string): string {
  return isIP(host) || /^[a-zA-Z0-9.-]{1,253}$/.test(host)
    ? host
    : reject(`must be an IP address or host name ${got(host)}`)
}

/** 64 hex characters, or 43 base64(url) characters: 258 bits, that is 32 bytes and two padding bits. */
function parseKek(text: string): Uint8Array {
  if (text.length === 64) return new Uint8Array(Buffer.from(text, 'hex'))
  return new Uint8Array(Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64'))
}

const kekSchema = Type.String({
  pattern: '^(?:[0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{43}=?)$',
  problem:
    'must be 32 random bytes as 64 hex characters or base64/base64url (generate one with `openssl rand -base64 32`)',
})

function parseCorsOrigins(text: string): string[] {
  const origins: string[] = []
  const sentences: string[] = []
  for (const entry of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const problem = findOriginProblem(entry)
    if (problem === 'not_origin')
      sentences.push(`"${withoutCredentials(entry)}" is not an origin like https://app.example.com`)
    else if (problem === 'cleartext') sentences.push(`"${entry}" must use https unless its host is loopback`)
    else origins.push(new URL(entry).origin)
  }
  if (sentences.length > 0) throw new EnvProblem(sentences)
  return origins
}

function parseTrustProxy(text: string): TrustProxy {
  if (text === 'false' || text === 'off') return false
  if (/^\d{1,2}$/.test(text)) return Number(text)
  const entries = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const valid = entries.every((entry) => {
    const [address, bits] = entry.split('/')
    const family = isIP(address ?? '')
    if (family === 0) return false
    if (bits === undefined) return true
    return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)
  })
  if (!valid || entries.length === 0)
    reject('must be a number of proxy hops or a comma-separated list of IP addresses/CIDRs')
  return entries
}

/** `addr@domain` or `Name <addr@domain>` / `"Name" <addr@domain>` on one line (RFC 5322 §3.4, loosely). */
const mailboxPattern = String.raw`^(?![\s\S]*[\r\n])(?:(?:"[^"]{1,60}"|[^"<>@]{1,60}) ?<[^\s<>@]+@[^\s<>@]+>|[^\s<>@"]+@[^\s<>@]+)$`

/**
 * Every variable Latchkey reads, in the order problems are reported. Optional ones have no value
 * when unset; their defaults are derived from other settings in toConfig.
 */
const EnvSchema = Type.Object({
  PORT: integer(3000, { min: 0, max: 65535, digits: 5, problem: 'must be a port number 0-65535' }),
  HOST: decoded(Type.String({ default: '127.0.0.1' }), parseHost),
  /** Default: http://localhost:PORT. */
  LATCHKEY_ISSUER: Type.Optional(serverUrl({ bare: true })),
  /** Default: the issuer. */
  LATCHKEY_PUBLIC_URL: Type.Optional(serverUrl({ bare: false })),
  /** Default: the issuer. */
  LATCHKEY_DEFAULT_AUDIENCE: Type.Optional(absoluteUri()),
  LATCHKEY_DATA_DIR: decoded(Type.String({ default: './data' }), (dir) => path.resolve(dir)),
  /** Default: SQLite at DATA_DIR/latchkey.db. */
  DATABASE_URL: Type.Optional(decoded(Type.String(), parseDatabaseUrl)),
  DATABASE_POOL_MAX: integer(10, { min: 1, max: 1000 }),
  DATABASE_STATEMENT_TIMEOUT: duration('10s', { min: '1s', max: '10m' }),
  DATABASE_CONNECT_TIMEOUT: duration('5s', { min: '1s', max: '1m' }),
  REDIS_URL: Type.Optional(
    Type.String({ pattern: String.raw`^rediss?://\S+$`, problem: 'must be a redis:// or rediss:// URL' }),
  ),
  /** Default: a generated key file in the data dir. */
  LATCHKEY_KEK: Type.Optional(decoded(kekSchema, parseKek)),
  LATCHKEY_SIGNING_ALG: oneOf(signingAlgorithms, 'ES256'),
  LATCHKEY_KEY_ROTATION_INTERVAL: duration('30d', { min: '10m', max: '365d' }),
  LATCHKEY_ACCESS_TOKEN_TTL: duration('10m', { min: '30s', max: '1d' }),
  LATCHKEY_REFRESH_TOKEN_TTL: duration('30d', { min: '1m', max: '365d' }),
  LATCHKEY_REFRESH_TOKEN_IDLE_TTL: duration('7d', { min: '1m', max: '365d' }),
  LATCHKEY_REFRESH_REUSE_GRACE: durationOrOff('10s', '1m'),
  LATCHKEY_RESET_TOKEN_TTL: duration('1h', { min: '1m', max: '1d' }),
  LATCHKEY_CLIENT_SECRET_OVERLAP: durationOrOff('24h', '30d'),
  LATCHKEY_REQUIRE_VERIFIED_EMAIL: flag(false),
  LATCHKEY_MFA: oneOf(['optional', 'required'] as const, 'optional'),
  LATCHKEY_CORS_ORIGINS: Type.Optional(decoded(Type.String(), parseCorsOrigins)),
  LATCHKEY_TRUST_PROXY: decoded(Type.String({ default: 'off' }), parseTrustProxy),
  SMTP_URL: Type.Optional(
    Type.String({ pattern: String.raw`^smtps?://\S+$`, problem: 'must be an smtp:// or smtps:// URL' }),
  ),
  LOG_LEVEL: oneOf(logLevels, 'info'),
  LATCHKEY_RATE_LIMITS: flag(true),
  LATCHKEY_TOKEN_RATE_LIMIT: integer(6_000, { min: 0, max: 1_000_000 }),
  LATCHKEY_TOKEN_FAILURE_RATE_LIMIT: integer(300, { min: 0, max: 1_000_000 }),
  LATCHKEY_DPOP_NONCE: flag(true),
  LATCHKEY_PASSWORD_MIN_LENGTH: integer(12, { min: 8, max: 64 }),
  LATCHKEY_ARGON2_MEMORY_KIB: integer(19_456, { min: 8_192, max: 1_048_576 }),
  LATCHKEY_ARGON2_TIME_COST: integer(2, { min: 1, max: 10 }),
  LATCHKEY_ARGON2_PARALLELISM: integer(1, { min: 1, max: 16 }),
  LATCHKEY_METRICS_TOKEN: Type.Optional(
    Type.String({
      pattern: String.raw`^[\x21-\x7e]{32,512}$`,
      problem: 'must be 32 to 512 printable characters without spaces (generate one with `openssl rand -hex 32`)',
    }),
  ),
  LATCHKEY_AUDIT_RETENTION: duration('180d', { min: '1d', max: '3650d' }),
  LATCHKEY_MAX_EVENT_LOOP_DELAY_MS: integer(1000, { min: 0, max: 60_000 }),
  LATCHKEY_PRODUCT_NAME: Type.String({
    default: 'Latchkey',
    maxLength: 60,
    pattern: '^[^\\r\\n<>"]*$',
    problem: 'must be at most 60 characters, without quotes, angle brackets or line breaks',
  }),
  /** Default: "<product name>" <no-reply@<public URL host>>. */
  LATCHKEY_MAIL_FROM: Type.Optional(
    Type.String({
      pattern: mailboxPattern,
      problem: 'must be an address like no-reply@example.com or "Name" <no-reply@example.com>',
      echo: true,
    }),
  ),
})

type Settings = StaticDecode<typeof EnvSchema>

/** Reads and validates the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const values = Value.Default(EnvSchema, readEnv(env)) as Record<string, string | undefined>
  const problems = findProblems(values)
  if (problems.length > 0) throw new ConfigError(problems)
  const config = toConfig(Value.Decode(EnvSchema, values))
  const crossFieldProblems = checkTokenLifetimes(config)
  if (crossFieldProblems.length > 0) throw new ConfigError(crossFieldProblems)
  return Object.freeze(config)
}

/** The variables the schema knows, trimmed; a blank one counts as unset. */
function readEnv(env: Env): Record<string, string> {
  const values: Record<string, string> = {}
  for (const name of Object.keys(EnvSchema.properties)) {
    const value = env[name]?.trim()
    if (value) values[name] = value
  }
  return values
}

/** One pass over the schema: each bad variable by name with a plain sentence, never a schema path. */
function findProblems(values: Record<string, string | undefined>): string[] {
  const problems: string[] = []
  for (const [name, schema] of Object.entries(EnvSchema.properties) as [string, TSchema][]) {
    const text = values[name]
    if (text === undefined) continue
    if (!Value.Check(schema, text)) {
      const { problem = 'is not valid', echo = false } = schema as { problem?: string; echo?: boolean }
      problems.push(`${name} ${problem}${echo ? ` ${got(text)}` : ''}`)
      continue
    }
    try {
      Value.Decode(schema, text)
    } catch (error) {
      if (!(error instanceof TransformDecodeError && error.error instanceof EnvProblem)) throw error
      problems.push(...error.error.sentences.map((sentence) => `${name} ${sentence}`))
    }
  }
  return problems
}

function toConfig(settings: Settings): Config {
  const issuer = settings.LATCHKEY_ISSUER ?? withoutTrailingSlash(`http://localhost:${settings.PORT}`)
  const publicUrl = settings.LATCHKEY_PUBLIC_URL ?? issuer
  const productName = settings.LATCHKEY_PRODUCT_NAME
  const dataDir = settings.LATCHKEY_DATA_DIR
  return {
    port: settings.PORT,
    host: settings.HOST,
    issuer,
    dataDir,
    database: settings.DATABASE_URL ?? { dialect: 'sqlite', file: path.join(dataDir, 'latchkey.db') },
    databasePool: {
      max: settings.DATABASE_POOL_MAX,
      statementTimeoutMs: settings.DATABASE_STATEMENT_TIMEOUT,
      connectTimeoutMs: settings.DATABASE_CONNECT_TIMEOUT,
    },
    redisUrl: settings.REDIS_URL ?? null,
    kek: settings.LATCHKEY_KEK ?? null,
    signingAlg: settings.LATCHKEY_SIGNING_ALG,
    keyRotationIntervalMs: settings.LATCHKEY_KEY_ROTATION_INTERVAL,
    accessTokenTtlMs: settings.LATCHKEY_ACCESS_TOKEN_TTL,
    refreshTokenTtlMs: settings.LATCHKEY_REFRESH_TOKEN_TTL,
    refreshTokenIdleTtlMs: settings.LATCHKEY_REFRESH_TOKEN_IDLE_TTL,
    refreshReuseGraceMs: settings.LATCHKEY_REFRESH_REUSE_GRACE,
    defaultAudience: settings.LATCHKEY_DEFAULT_AUDIENCE ?? issuer,
    publicUrl,
    resetTokenTtlMs: settings.LATCHKEY_RESET_TOKEN_TTL,
    clientSecretOverlapMs: settings.LATCHKEY_CLIENT_SECRET_OVERLAP,
    requireVerifiedEmail: settings.LATCHKEY_REQUIRE_VERIFIED_EMAIL,
    mfa: settings.LATCHKEY_MFA,
    corsOrigins: settings.LATCHKEY_CORS_ORIGINS ?? [],
    trustProxy: settings.LATCHKEY_TRUST_PROXY,
    smtpUrl: settings.SMTP_URL ?? null,
    logLevel: settings.LOG_LEVEL,
    rateLimits: settings.LATCHKEY_RATE_LIMITS,
    tokenRateLimits: {
      perClient: settings.LATCHKEY_TOKEN_RATE_LIMIT,
      failuresPerIp: settings.LATCHKEY_TOKEN_FAILURE_RATE_LIMIT,
    },
    dpopNonce: settings.LATCHKEY_DPOP_NONCE,
    passwordMinLength: settings.LATCHKEY_PASSWORD_MIN_LENGTH,
    argon2: {
      memoryCost: settings.LATCHKEY_ARGON2_MEMORY_KIB,
      timeCost: settings.LATCHKEY_ARGON2_TIME_COST,
      parallelism: settings.LATCHKEY_ARGON2_PARALLELISM,
    },
    productName,
    mailFrom: settings.LATCHKEY_MAIL_FROM ?? `"${productName}" <no-reply@${hostOf(publicUrl)}>`,
    metricsToken: settings.LATCHKEY_METRICS_TOKEN ?? null,
    auditRetentionMs: settings.LATCHKEY_AUDIT_RETENTION,
    maxEventLoopDelayMs: settings.LATCHKEY_MAX_EVENT_LOOP_DELAY_MS,
    // A verifier may cache the JWKS this long; a next key is published a whole rotation
    // interval before it signs, so this stays far below the pre-publication lead.
    jwksMaxAgeMs: Math.min(MAX_JWKS_MAX_AGE_MS, Math.floor(settings.LATCHKEY_KEY_ROTATION_INTERVAL / 10)),
    clockSkewMs: CLOCK_SKEW_MS,
  }
}

/** A key must outlive in the JWKS every token it signed: rotation faster than tokens expire would pile up keys. */
function checkTokenLifetimes(config: Config): string[] {
  const problems: string[] = []
  if (config.keyRotationIntervalMs < config.accessTokenTtlMs) {
    problems.push(
      `LATCHKEY_KEY_ROTATION_INTERVAL must not be shorter than LATCHKEY_ACCESS_TOKEN_TTL (${formatDuration(config.accessTokenTtlMs)})`,
    )
  }
  if (config.refreshTokenIdleTtlMs > config.refreshTokenTtlMs) {
    problems.push('LATCHKEY_REFRESH_TOKEN_IDLE_TTL must not be longer than LATCHKEY_REFRESH_TOKEN_TTL')
  }
  return problems
}

/** The public URL is valid by now; IPv6 hosts lose their brackets to fit in an address. */
function hostOf(url: string): string {
  return new URL(url).hostname.replace(/^\[|\]$/g, '')
}
