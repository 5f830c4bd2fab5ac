import path from 'node:path'
import { isIP } from 'node:net'

// The only reader of process.env. loadConfig validates everything once, reports every bad
// variable at once, and returns a frozen object; nothing else in the code base parses settings.

import { signingAlgorithms, type SigningAlg } from '../keys/generate-signing-key.js'

export { signingAlgorithms, type SigningAlg }

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof logLevels)[number]

export type DatabaseConfig = { dialect: 'sqlite'; file: string } | { dialect: 'postgres'; url: string }

export type TrustProxy = false | number | string[]

export interface Config {
  port: number
  host: string
  issuer: string
  dataDir: string
  database: DatabaseConfig
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
  requireVerifiedEmail: boolean
  corsOrigins: string[]
  trustProxy: TrustProxy
  smtpUrl: string | null
  logLevel: LogLevel
  /** Per-IP rate limits on credential endpoints; off only where a proxy in front limits instead. */
  rateLimits: boolean
  /** Minimum password length in Unicode code points (NIST SP 800-63B: at least 8; default 12). */
  passwordMinLength: number
  /** argon2id parameters (OWASP: m=19456 KiB, t=2, p=1); hashes made with others are upgraded at login. */
  argon2: { memoryCost: number; timeCost: number; parallelism: number }
  /** Product name in emails (LATCHKEY_PRODUCT_NAME). */
  productName: string
  /** From address of every email (LATCHKEY_MAIL_FROM); defaults to no-reply at the public URL's host. */
  mailFrom: string
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

export function parseDuration(text: string): number | null {
  const match = /^(\d{1,9})(s|m|h|d)$/.exec(text.trim())
  if (!match) return null
  return Number(match[1]) * durationUnits[match[2]!]!
}

const CLOCK_SKEW_MS = 60_000
const MAX_JWKS_MAX_AGE_MS = 300_000

/** Reads and validates the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = []
  const read = (name: string): string | undefined => {
    const value = env[name]
    return value === undefined || value.trim() === '' ? undefined : value.trim()
  }
  const fail = (name: string, why: string): undefined => {
    problems.push(`${name} ${why}`)
    return undefined
  }

  const duration = (name: string, fallback: string, min: number, max: number): number => {
    const text = read(name) ?? fallback
    const ms = parseDuration(text)
    if (ms === null) return fail(name, `must be a duration like 30s, 10m, 12h or 7d (got "${text}")`) ?? 0
    if (ms < min || ms > max) {
      return fail(name, `must be between ${formatDuration(min)} and ${formatDuration(max)} (got "${text}")`) ?? 0
    }
    return ms
  }

  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const text = read(name) ?? fallback
    if ((allowed as readonly string[]).includes(text)) return text as T
    return fail(name, `must be one of ${allowed.join(', ')} (got "${text}")`) ?? fallback
  }

  const boolean = (name: string, fallback: boolean): boolean => {
    const text = read(name)
    if (text === undefined) return fallback
    if (text === 'true' || text === '1') return true
    if (text === 'false' || text === '0') return false
    return fail(name, `must be true or false (got "${text}")`) ?? fallback
  }

  const portText = read('PORT') ?? '3000'
  const port =
    /^\d{1,5}$/.test(portText) && Number(portText) <= 65535
      ? Number(portText)
      : (fail('PORT', `must be a port number 0-65535 (got "${portText}")`) ?? 3000)

  const host = read('HOST') ?? '127.0.0.1'
  if (!isIP(host) && !/^[a-zA-Z0-9.-]{1,253}$/.test(host))
    fail('HOST', `must be an IP address or host name (got "${host}")`)

  const issuer = absoluteUrl('LATCHKEY_ISSUER', read('LATCHKEY_ISSUER') ?? `http://localhost:${port}`, fail, {
    secure: true,
    bare: true,
  })
  // Both default to the issuer, which is checked once above; only explicit values are checked here.
  const publicUrlText = read('LATCHKEY_PUBLIC_URL')
  const publicUrl =
    publicUrlText === undefined
      ? issuer
      : absoluteUrl('LATCHKEY_PUBLIC_URL', publicUrlText, fail, { secure: true, bare: false })
  const defaultAudience = read('LATCHKEY_DEFAULT_AUDIENCE') ?? issuer
  if (defaultAudience !== issuer && !isAbsoluteUri(defaultAudience))
    fail('LATCHKEY_DEFAULT_AUDIENCE', `must be an absolute URI (got "${defaultAudience}")`)

  const dataDir = path.resolve(read('LATCHKEY_DATA_DIR') ?? './data')
  const database = parseDatabase(read('DATABASE_URL'), dataDir, fail)

  const redisUrl = read('REDIS_URL') ?? null
  if (redisUrl !== null && !/^rediss?:\/\/[^\s]+$/.test(redisUrl))
    fail('REDIS_URL', 'must be a redis:// or rediss:// URL')

  const kekText = read('LATCHKEY_KEK')
  let kek: Uint8Array | null = null
  if (kekText !== undefined) {
    kek = parseKek(kekText)
    if (kek === null)
      fail(
        'LATCHKEY_KEK',
        'must be 32 random bytes as 64 hex characters or base64/base64url (generate one with `openssl rand -base64 32`)',
      )
  }

  const signingAlg = oneOf('LATCHKEY_SIGNING_ALG', signingAlgorithms, 'ES256')
  const keyRotationIntervalMs = duration('LATCHKEY_KEY_ROTATION_INTERVAL', '30d', 10 * 60_000, 365 * 86_400_000)
  const accessTokenTtlMs = duration('LATCHKEY_ACCESS_TOKEN_TTL', '10m', 30_000, 24 * 3_600_000)
  const refreshTokenTtlMs = duration('LATCHKEY_REFRESH_TOKEN_TTL', '30d', 60_000, 365 * 86_400_000)
  const refreshTokenIdleTtlMs = duration('LATCHKEY_REFRESH_TOKEN_IDLE_TTL', '7d', 60_000, 365 * 86_400_000)
  const refreshReuseGraceMs = durationOrZero(
    'LATCHKEY_REFRESH_REUSE_GRACE',
    read('LATCHKEY_REFRESH_REUSE_GRACE') ?? '10s',
    60_000,
    fail,
  )
  const resetTokenTtlMs = duration('LATCHKEY_RESET_TOKEN_TTL', '1h', 60_000, 24 * 3_600_000)
  const requireVerifiedEmail = boolean('LATCHKEY_REQUIRE_VERIFIED_EMAIL', false)
  const corsOrigins = parseOrigins(read('LATCHKEY_CORS_ORIGINS'), fail)
  const trustProxy = parseTrustProxy(read('LATCHKEY_TRUST_PROXY'), fail)

  const smtpUrl = read('SMTP_URL') ?? null
  if (smtpUrl !== null && !/^smtps?:\/\/[^\s]+$/.test(smtpUrl)) fail('SMTP_URL', 'must be an smtp:// or smtps:// URL')

  const logLevel = oneOf('LOG_LEVEL', logLevels, 'info')

  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const text = read(name) ?? String(fallback)
    if (!/^\d{1,9}$/.test(text) || Number(text) < min || Number(text) > max) {
      return fail(name, `must be a whole number from ${min} to ${max} (got "${text}")`) ?? fallback
    }
    return Number(text)
  }
  const rateLimits = boolean('LATCHKEY_RATE_LIMITS', true)
  const passwordMinLength = integer('LATCHKEY_PASSWORD_MIN_LENGTH', 12, 8, 64)
  const argon2 = {
    memoryCost: integer('LATCHKEY_ARGON2_MEMORY_KIB', 19_456, 8_192, 1_048_576),
    timeCost: integer('LATCHKEY_ARGON2_TIME_COST', 2, 1, 10),
    parallelism: integer('LATCHKEY_ARGON2_PARALLELISM', 1, 1, 16),
  }

  const productName = read('LATCHKEY_PRODUCT_NAME') ?? 'Latchkey'
  if (productName.length > 60 || /[\r\n<>"]/.test(productName))
    fail('LATCHKEY_PRODUCT_NAME', 'must be at most 60 characters, without quotes, angle brackets or line breaks')
  const mailFrom = read('LATCHKEY_MAIL_FROM') ?? `"${productName}" <no-reply@${hostOf(publicUrl)}>`
  if (!isMailbox(mailFrom))
    fail(
      'LATCHKEY_MAIL_FROM',
      `must be an address like no-reply@example.com or "Name" <no-reply@example.com> (got "${mailFrom}")`,
    )

  const config: Config = {
    port,
    host,
    issuer,
    dataDir,
    database,
    redisUrl,
    kek,
    signingAlg,
    keyRotationIntervalMs,
    accessTokenTtlMs,
    refreshTokenTtlMs,
    refreshTokenIdleTtlMs,
    refreshReuseGraceMs,
    defaultAudience,
    publicUrl,
    resetTokenTtlMs,
    requireVerifiedEmail,
    corsOrigins,
    trustProxy,
    smtpUrl,
    logLevel,
    rateLimits,
    passwordMinLength,
    argon2,
    productName,
    mailFrom,
    // A verifier may cache the JWKS this long; a next key is published a whole rotation
    // interval before it signs, so this stays far below the pre-publication lead.
    jwksMaxAgeMs: Math.min(MAX_JWKS_MAX_AGE_MS, Math.floor(keyRotationIntervalMs / 10)),
    clockSkewMs: CLOCK_SKEW_MS,
  }
  if (problems.length === 0) {
    checkTokenLifetimes(config, fail)
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return Object.freeze(config)
}

/** A key must outlive in the JWKS every token it signed: rotation faster than tokens expire would pile up keys. */
function checkTokenLifetimes(config: Config, fail: (name: string, why: string) => undefined): void {
  if (config.keyRotationIntervalMs < config.accessTokenTtlMs) {
    fail(
      'LATCHKEY_KEY_ROTATION_INTERVAL',
      `must not be shorter than LATCHKEY_ACCESS_TOKEN_TTL (${formatDuration(config.accessTokenTtlMs)})`,
    )
  }
  if (config.refreshTokenIdleTtlMs > config.refreshTokenTtlMs) {
    fail('LATCHKEY_REFRESH_TOKEN_IDLE_TTL', 'must not be longer than LATCHKEY_REFRESH_TOKEN_TTL')
  }
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

function durationOrZero(
  name: string,
  text: string,
  max: number,
  fail: (name: string, why: string) => undefined,
): number {
  if (text === '0') return 0
  const ms = parseDuration(text)
  if (ms === null) return fail(name, `must be a duration like 10s, or 0s to disable (got "${text}")`) ?? 0
  if (ms > max) return fail(name, `must be at most ${formatDuration(max)} (got "${text}")`) ?? 0
  return ms
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, '') || 'localhost'
  } catch {
    return 'localhost'
  }
}

/** `addr@domain` or `Name <addr@domain>` / `"Name" <addr@domain>` on one line (RFC 5322 §3.4, loosely). */
function isMailbox(text: string): boolean {
  return (
    !/[\r\n]/.test(text) &&
    /^(?:(?:"[^"]{1,60}"|[^"<>@]{1,60}) ?<[^\s<>@]+@[^\s<>@]+>|[^\s<>@"]+@[^\s<>@]+)$/.test(text)
  )
}

export function isLoopbackHost(hostname: string): boolean {
  const bare = hostname.replace(/^\[|\]$/g, '')
  return bare === 'localhost' || bare === '::1' || /^127(\.\d{1,3}){3}$/.test(bare)
}

function isAbsoluteUri(text: string): boolean {
  try {
    const url = new URL(text)
    return url.protocol.length > 1 && !text.includes('#')
  } catch {
    return false
  }
}

/**
 * An https URL (http only on loopback). `bare` also forbids query and fragment, as RFC 8414 §2
 * requires of an issuer. The result has no trailing slash so endpoint URLs join cleanly.
 */
/** Values are echoed in errors, but never the credentials a URL may carry. */
function withoutCredentials(text: string): string {
  return text.replace(/\/\/[^/@\s]*@/, '//[credentials]@')
}

function absoluteUrl(
  name: string,
  raw: string,
  fail: (name: string, why: string) => undefined,
  rules: { secure: boolean; bare: boolean },
): string {
  const text = withoutCredentials(raw)
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return fail(name, `must be an absolute URL (got "${text}")`) ?? text
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return fail(name, `must be an http(s) URL (got "${text}")`) ?? text
  if (rules.secure && url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    return fail(name, `must use https unless its host is loopback (got "${text}")`) ?? text
  }
  if (url.username || url.password) return fail(name, 'must not contain credentials') ?? text
  if (rules.bare && (url.search || url.hash || raw.includes('?') || raw.includes('#'))) {
    return fail(name, 'must not have a query or fragment') ?? text
  }
  return url.href.replace(/\/+$/, '')
}

function parseDatabase(
  text: string | undefined,
  dataDir: string,
  fail: (name: string, why: string) => undefined,
): DatabaseConfig {
  if (text === undefined) return { dialect: 'sqlite', file: path.join(dataDir, 'latchkey.db') }
  if (/^postgres(ql)?:\/\//.test(text)) {
    try {
      new URL(text)
      return { dialect: 'postgres', url: text }
    } catch {
      // fall through to the error below; never echo the URL, it may hold a password
    }
  }
  if (text.startsWith('sqlite:')) return { dialect: 'sqlite', file: path.resolve(text.slice('sqlite:'.length)) }
  fail('DATABASE_URL', 'must be a postgres:// URL or sqlite:<path>')
  return { dialect: 'sqlite', file: path.join(dataDir, 'latchkey.db') }
}

function parseKek(text: string): Uint8Array | null {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return new Uint8Array(Buffer.from(text, 'hex'))
  if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(text)) {
    const bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
    if (bytes.length === 32) return new Uint8Array(bytes)
  }
  return null
}

function parseOrigins(text: string | undefined, fail: (name: string, why: string) => undefined): string[] {
  if (text === undefined) return []
  const origins: string[] = []
  for (const raw of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    let url: URL | undefined
    try {
      url = new URL(raw)
    } catch {
      url = undefined
    }
    // An origin is scheme://host[:port] and nothing else; `*` and `null` are never allowed with credentials.
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== raw.replace(/\/$/, '')) {
      fail('LATCHKEY_CORS_ORIGINS', `"${withoutCredentials(raw)}" is not an origin like https://app.example.com`)
      continue
    }
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      fail('LATCHKEY_CORS_ORIGINS', `"${raw}" must use https unless its host is loopback`)
      continue
    }
    origins.push(url.origin)
  }
  return origins
}

function parseTrustProxy(text: string | undefined, fail: (name: string, why: string) => undefined): TrustProxy {
  if (text === undefined || text === 'false' || text === 'off') return false
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
  if (!valid || entries.length === 0) {
    return (
      fail('LATCHKEY_TRUST_PROXY', 'must be a number of proxy hops or a comma-separated list of IP addresses/CIDRs') ??
      false
    )
  }
  return entries
}
