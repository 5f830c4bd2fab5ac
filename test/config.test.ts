import path from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../server/config.js'

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  return []
}

t.test('zero configuration gives safe defaults', async (t) => {
  const config = loadConfig({})
  t.same(config, {
    port: 3000,
    host: '127.0.0.1',
    issuer: 'http://localhost:3000',
    dataDir: path.resolve('data'),
    database: { dialect: 'sqlite', file: path.resolve('data/latchkey.db') },
    databasePool: { max: 10, statementTimeoutMs: 10_000, connectTimeoutMs: 5_000 },
    clientSecretOverlapMs: 86_400_000,
    redisUrl: null,
    kek: null,
    signingAlg: 'ES256',
    keyRotationIntervalMs: 30 * 86_400_000,
    accessTokenTtlMs: 600_000,
    refreshTokenTtlMs: 30 * 86_400_000,
    refreshTokenIdleTtlMs: 7 * 86_400_000,
    refreshReuseGraceMs: 10_000,
    defaultAudience: 'http://localhost:3000',
    publicUrl: 'http://localhost:3000',
    resetTokenTtlMs: 3_600_000,
    requireVerifiedEmail: false,
    mfa: 'optional',
    corsOrigins: [],
    trustProxy: false,
    smtpUrl: null,
    logLevel: 'info',
    rateLimits: true,
    tokenRateLimits: { perClient: 6_000, failuresPerIp: 300 },
    dpopNonce: true,
    passwordMinLength: 12,
    argon2: { memoryCost: 19_456, timeCost: 2, parallelism: 1 },
    productName: 'Latchkey',
    mailFrom: '"Latchkey" <no-reply@localhost>',
    metricsToken: null,
    auditRetentionMs: 180 * 86_400_000,
    maxEventLoopDelayMs: 1_000,
    jwksMaxAgeMs: 300_000,
    clockSkewMs: 60_000,
  })
  t.ok(Object.isFrozen(config))
})

t.test('each documented default, spelled out, gives the same configuration as leaving it unset', async (t) => {
  // The defaults column of README.md and API.md, variable by variable.
  const documented: Record<string, string> = {
    PORT: '3000',
    HOST: '127.0.0.1',
    LATCHKEY_ISSUER: 'http://localhost:3000',
    LATCHKEY_DATA_DIR: './data',
    DATABASE_URL: `sqlite:${path.join('data', 'latchkey.db')}`,
    DATABASE_POOL_MAX: '10',
    DATABASE_STATEMENT_TIMEOUT: '10s',
    DATABASE_CONNECT_TIMEOUT: '5s',
    LATCHKEY_SIGNING_ALG: 'ES256',
    LATCHKEY_KEY_ROTATION_INTERVAL: '30d',
    LATCHKEY_ACCESS_TOKEN_TTL: '10m',
    LATCHKEY_REFRESH_TOKEN_TTL: '30d',
    LATCHKEY_REFRESH_TOKEN_IDLE_TTL: '7d',
    LATCHKEY_REFRESH_REUSE_GRACE: '10s',
    LATCHKEY_DEFAULT_AUDIENCE: 'http://localhost:3000',
    LATCHKEY_PUBLIC_URL: 'http://localhost:3000',
    LATCHKEY_RESET_TOKEN_TTL: '1h',
    LATCHKEY_REQUIRE_VERIFIED_EMAIL: 'false',
    LATCHKEY_MFA: 'optional',
    LATCHKEY_TRUST_PROXY: 'off',
    LOG_LEVEL: 'info',
    LATCHKEY_RATE_LIMITS: 'true',
    LATCHKEY_TOKEN_RATE_LIMIT: '6000',
    LATCHKEY_TOKEN_FAILURE_RATE_LIMIT: '300',
    LATCHKEY_PASSWORD_MIN_LENGTH: '12',
    LATCHKEY_ARGON2_MEMORY_KIB: '19456',
    LATCHKEY_ARGON2_TIME_COST: '2',
    LATCHKEY_ARGON2_PARALLELISM: '1',
    LATCHKEY_MAIL_FROM: '"Latchkey" <no-reply@localhost>',
    LATCHKEY_PRODUCT_NAME: 'Latchkey',
    LATCHKEY_AUDIT_RETENTION: '180d',
    LATCHKEY_MAX_EVENT_LOOP_DELAY_MS: '1000',
  }
  const unset = loadConfig({})
  for (const [name, value] of Object.entries(documented)) {
    t.same(loadConfig({ [name]: value }), unset, name)
  }
  t.same(loadConfig(documented), unset, 'all at once')
})

t.test('a blank variable counts as unset and values are trimmed', async (t) => {
  t.same(loadConfig({ PORT: ' ', LOG_LEVEL: '', LATCHKEY_ISSUER: '  ' }), loadConfig({}))
  t.equal(loadConfig({ PORT: ' 8080 ' }).port, 8080)
})

t.test('the default issuer follows PORT and is normalised like an explicit one', async (t) => {
  t.equal(loadConfig({ PORT: '8080' }).issuer, 'http://localhost:8080')
  t.equal(loadConfig({ PORT: '80' }).issuer, 'http://localhost')
  t.equal(loadConfig({ PORT: '80' }).defaultAudience, 'http://localhost')
})

t.test('every variable is read', async (t) => {
  const config = loadConfig({
    PORT: '8080',
    HOST: '0.0.0.0',
    LATCHKEY_ISSUER: 'https://id.example.com/',
    LATCHKEY_DATA_DIR: '/var/lib/latchkey',
    DATABASE_URL: 'postgres://u:p@db:5432/latchkey?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem',
    DATABASE_POOL_MAX: '25',
    DATABASE_STATEMENT_TIMEOUT: '30s',
    DATABASE_CONNECT_TIMEOUT: '2s',
    REDIS_URL: 'redis://cache:6379',
    LATCHKEY_KEK: 'a'.repeat(64),
    LATCHKEY_SIGNING_ALG: 'RS256',
    LATCHKEY_KEY_ROTATION_INTERVAL: '7d',
    LATCHKEY_ACCESS_TOKEN_TTL: '5m',
    LATCHKEY_REFRESH_TOKEN_TTL: '14d',
    LATCHKEY_REFRESH_TOKEN_IDLE_TTL: '1d',
    LATCHKEY_REFRESH_REUSE_GRACE: '0s',
    LATCHKEY_DEFAULT_AUDIENCE: 'https://api.example.com',
    LATCHKEY_PUBLIC_URL: 'https://app.example.com/account',
    LATCHKEY_RESET_TOKEN_TTL: '30m',
    LATCHKEY_REQUIRE_VERIFIED_EMAIL: 'true',
    LATCHKEY_CORS_ORIGINS: 'https://app.example.com, http://localhost:5173',
    LATCHKEY_TRUST_PROXY: '10.0.0.0/8,192.168.1.1',
    SMTP_URL: 'smtps://user:pass@mail.example.com:465',
    LOG_LEVEL: 'warn',
  })
  t.match(config, {
    port: 8080,
    host: '0.0.0.0',
    issuer: 'https://id.example.com',
    database: {
      dialect: 'postgres',
      url: 'postgres://u:p@db:5432/latchkey?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem',
    },
    databasePool: { max: 25, statementTimeoutMs: 30_000, connectTimeoutMs: 2_000 },
    redisUrl: 'redis://cache:6379',
    signingAlg: 'RS256',
    keyRotationIntervalMs: 7 * 86_400_000,
    accessTokenTtlMs: 300_000,
    refreshReuseGraceMs: 0,
    defaultAudience: 'https://api.example.com',
    publicUrl: 'https://app.example.com/account',
    requireVerifiedEmail: true,
    corsOrigins: ['https://app.example.com', 'http://localhost:5173'],
    trustProxy: ['10.0.0.0/8', '192.168.1.1'],
    logLevel: 'warn',
  })
  t.equal(config.kek?.length, 32)
  t.same(loadConfig({ LATCHKEY_TOKEN_RATE_LIMIT: '0', LATCHKEY_TOKEN_FAILURE_RATE_LIMIT: '50000' }).tokenRateLimits, {
    perClient: 0,
    failuresPerIp: 50_000,
  })
  t.equal(loadConfig({ LATCHKEY_TRUST_PROXY: '2' }).trustProxy, 2)
  t.equal(loadConfig({ LATCHKEY_KEK: Buffer.alloc(32, 7).toString('base64url') }).kek?.[0], 7)
})

const cases: [string, Record<string, string>, string][] = [
  ['PORT', { PORT: '70000' }, 'PORT must be a port number 0-65535 (got "70000")'],
  ['HOST', { HOST: 'bad host!' }, 'HOST must be an IP address or host name (got "bad host!")'],
  [
    'http issuer off loopback',
    { LATCHKEY_ISSUER: 'http://id.example.com' },
    'LATCHKEY_ISSUER must use https unless its host is loopback (got "http://id.example.com")',
  ],
  [
    'issuer that is not a URL',
    { LATCHKEY_ISSUER: 'id.example.com' },
    'LATCHKEY_ISSUER must be an absolute URL (got "id.example.com")',
  ],
  [
    'issuer with a query',
    { LATCHKEY_ISSUER: 'https://id.example.com/?a=b' },
    'LATCHKEY_ISSUER must not have a query or fragment',
  ],
  [
    'issuer with credentials',
    { LATCHKEY_ISSUER: 'https://u:p@id.example.com' },
    'LATCHKEY_ISSUER must not contain credentials',
  ],
  ['public URL', { LATCHKEY_PUBLIC_URL: 'ftp://x' }, 'LATCHKEY_PUBLIC_URL must be an http(s) URL (got "ftp://x")'],
  [
    'default audience',
    { LATCHKEY_DEFAULT_AUDIENCE: 'not a uri' },
    'LATCHKEY_DEFAULT_AUDIENCE must be an absolute URI (got "not a uri")',
  ],
  ['database URL', { DATABASE_URL: 'mysql://db/latchkey' }, 'DATABASE_URL must be a postgres:// URL or sqlite:<path>'],
  ['redis URL', { REDIS_URL: 'http://cache' }, 'REDIS_URL must be a redis:// or rediss:// URL'],
  [
    'KEK too short',
    { LATCHKEY_KEK: 'abcd' },
    'LATCHKEY_KEK must be 32 random bytes as 64 hex characters or base64/base64url (generate one with `openssl rand -base64 32`)',
  ],
  [
    'algorithm',
    { LATCHKEY_SIGNING_ALG: 'HS256' },
    'LATCHKEY_SIGNING_ALG must be one of ES256, RS256, PS256, EdDSA (got "HS256")',
  ],
  ['second-factor policy', { LATCHKEY_MFA: 'always' }, 'LATCHKEY_MFA must be one of optional, required (got "always")'],
  [
    'algorithm none',
    { LATCHKEY_SIGNING_ALG: 'none' },
    'LATCHKEY_SIGNING_ALG must be one of ES256, RS256, PS256, EdDSA (got "none")',
  ],
  [
    'duration syntax',
    { LATCHKEY_ACCESS_TOKEN_TTL: '10 minutes' },
    'LATCHKEY_ACCESS_TOKEN_TTL must be a duration like 30s, 10m, 12h or 7d (got "10 minutes")',
  ],
  [
    'duration range',
    { LATCHKEY_ACCESS_TOKEN_TTL: '2d' },
    'LATCHKEY_ACCESS_TOKEN_TTL must be between 30s and 1d (got "2d")',
  ],
  [
    'rotation too fast',
    { LATCHKEY_KEY_ROTATION_INTERVAL: '1m' },
    'LATCHKEY_KEY_ROTATION_INTERVAL must be between 10m and 365d (got "1m")',
  ],
  [
    'rotation faster than tokens live',
    { LATCHKEY_KEY_ROTATION_INTERVAL: '30m', LATCHKEY_ACCESS_TOKEN_TTL: '1h' },
    'LATCHKEY_KEY_ROTATION_INTERVAL must not be shorter than LATCHKEY_ACCESS_TOKEN_TTL (1h)',
  ],
  [
    'idle longer than absolute',
    { LATCHKEY_REFRESH_TOKEN_TTL: '1d', LATCHKEY_REFRESH_TOKEN_IDLE_TTL: '2d' },
    'LATCHKEY_REFRESH_TOKEN_IDLE_TTL must not be longer than LATCHKEY_REFRESH_TOKEN_TTL',
  ],
  [
    'reuse grace',
    { LATCHKEY_REFRESH_REUSE_GRACE: 'soon' },
    'LATCHKEY_REFRESH_REUSE_GRACE must be a duration like 10s, or 0s to disable (got "soon")',
  ],
  [
    'reuse grace too long',
    { LATCHKEY_REFRESH_REUSE_GRACE: '5m' },
    'LATCHKEY_REFRESH_REUSE_GRACE must be at most 1m (got "5m")',
  ],
  ['reset TTL', { LATCHKEY_RESET_TOKEN_TTL: '2d' }, 'LATCHKEY_RESET_TOKEN_TTL must be between 1m and 1d (got "2d")'],
  [
    'boolean',
    { LATCHKEY_REQUIRE_VERIFIED_EMAIL: 'yes' },
    'LATCHKEY_REQUIRE_VERIFIED_EMAIL must be true or false (got "yes")',
  ],
  [
    'CORS wildcard',
    { LATCHKEY_CORS_ORIGINS: '*' },
    'LATCHKEY_CORS_ORIGINS "*" is not an origin like https://app.example.com',
  ],
  [
    'CORS origin with a path',
    { LATCHKEY_CORS_ORIGINS: 'https://app.example.com/x' },
    'LATCHKEY_CORS_ORIGINS "https://app.example.com/x" is not an origin like https://app.example.com',
  ],
  [
    'CORS http origin off loopback',
    { LATCHKEY_CORS_ORIGINS: 'http://app.example.com' },
    'LATCHKEY_CORS_ORIGINS "http://app.example.com" must use https unless its host is loopback',
  ],
  [
    'trust proxy',
    { LATCHKEY_TRUST_PROXY: 'everyone' },
    'LATCHKEY_TRUST_PROXY must be a number of proxy hops or a comma-separated list of IP addresses/CIDRs',
  ],
  [
    'trust proxy CIDR',
    { LATCHKEY_TRUST_PROXY: '10.0.0.0/40' },
    'LATCHKEY_TRUST_PROXY must be a number of proxy hops or a comma-separated list of IP addresses/CIDRs',
  ],
  ['SMTP URL', { SMTP_URL: 'mail.example.com' }, 'SMTP_URL must be an smtp:// or smtps:// URL'],
  [
    'mail From',
    { LATCHKEY_MAIL_FROM: 'Support <support>' },
    'LATCHKEY_MAIL_FROM must be an address like no-reply@example.com or "Name" <no-reply@example.com> (got "Support <support>")',
  ],
  [
    'product name',
    { LATCHKEY_PRODUCT_NAME: 'Acme <b>' },
    'LATCHKEY_PRODUCT_NAME must be at most 60 characters, without quotes, angle brackets or line breaks',
  ],
  [
    'log level',
    { LOG_LEVEL: 'loud' },
    'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
  ],
]

for (const [name, env, message] of cases) {
  t.test(`a bad ${name} names the variable`, async (t) => {
    t.same(problemsOf(env), [message])
  })
}

t.test('the From address follows the product name and the public URL unless set', async (t) => {
  t.equal(
    loadConfig({ LATCHKEY_PRODUCT_NAME: 'Acme ID', LATCHKEY_PUBLIC_URL: 'https://login.acme.example/account' })
      .mailFrom,
    '"Acme ID" <no-reply@login.acme.example>',
  )
  t.equal(loadConfig({ LATCHKEY_MAIL_FROM: 'Acme <id@acme.example>' }).mailFrom, 'Acme <id@acme.example>')
  t.equal(loadConfig({ LATCHKEY_MAIL_FROM: 'id@acme.example' }).mailFrom, 'id@acme.example')
})

t.test('every bad variable is reported at once, on one line', async (t) => {
  try {
    loadConfig({ PORT: 'x', LOG_LEVEL: 'loud', DATABASE_URL: 'postgres://user:hunter2@db:bad:port/x' })
    t.fail('should throw')
  } catch (error) {
    t.type(error, ConfigError)
    const message = (error as Error).message
    t.equal(message.split('\n').length, 1)
    t.match(message, /^invalid configuration: PORT .*; DATABASE_URL .*; LOG_LEVEL /)
    t.notOk(message.includes('hunter2'), 'a database password is never echoed')
  }
})

t.test('loopback issuers may use http', async (t) => {
  for (const issuer of ['http://localhost:3000', 'http://127.0.0.1:8080', 'http://[::1]:3000']) {
    t.same(problemsOf({ LATCHKEY_ISSUER: issuer }), [], issuer)
  }
})

t.test('credentials in a URL are never echoed in an error', async (t) => {
  t.same(problemsOf({ LATCHKEY_PUBLIC_URL: 'http://admin:s3cret@example.com' }), [
    'LATCHKEY_PUBLIC_URL must use https unless its host is loopback (got "http://[credentials]@example.com")',
  ])
  t.same(problemsOf({ LATCHKEY_CORS_ORIGINS: 'https://u:p@app.example.com' }), [
    'LATCHKEY_CORS_ORIGINS "https://[credentials]@app.example.com" is not an origin like https://app.example.com',
  ])
})

t.test('every bad variable in one environment is reported in one error, in schema order', async (t) => {
  const problems = problemsOf({
    PORT: 'eighty',
    HOST: 'bad host!',
    LATCHKEY_ISSUER: 'http://id.example.com',
    LATCHKEY_PUBLIC_URL: 'ftp://files.example.com',
    LATCHKEY_DEFAULT_AUDIENCE: 'api',
    DATABASE_URL: 'mysql://db',
    DATABASE_POOL_MAX: '0',
    DATABASE_STATEMENT_TIMEOUT: '500ms',
    DATABASE_CONNECT_TIMEOUT: '2m',
    REDIS_URL: 'cache:6379',
    LATCHKEY_KEK: 'short',
    LATCHKEY_SIGNING_ALG: 'HS256',
    LATCHKEY_KEY_ROTATION_INTERVAL: '1y',
    LATCHKEY_ACCESS_TOKEN_TTL: '1s',
    LATCHKEY_REFRESH_TOKEN_TTL: '400d',
    LATCHKEY_REFRESH_TOKEN_IDLE_TTL: 'week',
    LATCHKEY_REFRESH_REUSE_GRACE: '2m',
    LATCHKEY_RESET_TOKEN_TTL: '0s',
    LATCHKEY_REQUIRE_VERIFIED_EMAIL: 'TRUE',
    LATCHKEY_CORS_ORIGINS: '*, http://app.example.com',
    LATCHKEY_TRUST_PROXY: '10.0.0.0/33',
    SMTP_URL: 'mail.example.com',
    LOG_LEVEL: 'verbose',
    LATCHKEY_RATE_LIMITS: 'off',
    LATCHKEY_PASSWORD_MIN_LENGTH: '6',
    LATCHKEY_ARGON2_MEMORY_KIB: 'lots',
    LATCHKEY_ARGON2_TIME_COST: '0',
    LATCHKEY_ARGON2_PARALLELISM: '17',
    LATCHKEY_METRICS_TOKEN: 'too short to guess',
    LATCHKEY_AUDIT_RETENTION: '12h',
    LATCHKEY_MAX_EVENT_LOOP_DELAY_MS: '-1',
    LATCHKEY_PRODUCT_NAME: 'x'.repeat(61),
    LATCHKEY_MAIL_FROM: 'nobody',
  })
  t.same(problems, [
    'PORT must be a port number 0-65535 (got "eighty")',
    'HOST must be an IP address or host name (got "bad host!")',
    'LATCHKEY_ISSUER must use https unless its host is loopback (got "http://id.example.com")',
    'LATCHKEY_PUBLIC_URL must be an http(s) URL (got "ftp://files.example.com")',
    'LATCHKEY_DEFAULT_AUDIENCE must be an absolute URI (got "api")',
    'DATABASE_URL must be a postgres:// URL or sqlite:<path>',
    'DATABASE_POOL_MAX must be a whole number from 1 to 1000 (got "0")',
    'DATABASE_STATEMENT_TIMEOUT must be a duration like 30s, 10m, 12h or 7d (got "500ms")',
    'DATABASE_CONNECT_TIMEOUT must be between 1s and 1m (got "2m")',
    'REDIS_URL must be a redis:// or rediss:// URL',
    'LATCHKEY_KEK must be 32 random bytes as 64 hex characters or base64/base64url (generate one with `openssl rand -base64 32`)',
    'LATCHKEY_SIGNING_ALG must be one of ES256, RS256, PS256, EdDSA (got "HS256")',
    'LATCHKEY_KEY_ROTATION_INTERVAL must be a duration like 30s, 10m, 12h or 7d (got "1y")',
    'LATCHKEY_ACCESS_TOKEN_TTL must be between 30s and 1d (got "1s")',
    'LATCHKEY_REFRESH_TOKEN_TTL must be between 1m and 365d (got "400d")',
    'LATCHKEY_REFRESH_TOKEN_IDLE_TTL must be a duration like 30s, 10m, 12h or 7d (got "week")',
    'LATCHKEY_REFRESH_REUSE_GRACE must be at most 1m (got "2m")',
    'LATCHKEY_RESET_TOKEN_TTL must be between 1m and 1d (got "0s")',
    'LATCHKEY_REQUIRE_VERIFIED_EMAIL must be true or false (got "TRUE")',
    'LATCHKEY_CORS_ORIGINS "*" is not an origin like https://app.example.com',
    'LATCHKEY_CORS_ORIGINS "http://app.example.com" must use https unless its host is loopback',
    'LATCHKEY_TRUST_PROXY must be a number of proxy hops or a comma-separated list of IP addresses/CIDRs',
    'SMTP_URL must be an smtp:// or smtps:// URL',
    'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")',
    'LATCHKEY_RATE_LIMITS must be true or false (got "off")',
    'LATCHKEY_PASSWORD_MIN_LENGTH must be a whole number from 8 to 64 (got "6")',
    'LATCHKEY_ARGON2_MEMORY_KIB must be a whole number from 8192 to 1048576 (got "lots")',
    'LATCHKEY_ARGON2_TIME_COST must be a whole number from 1 to 10 (got "0")',
    'LATCHKEY_ARGON2_PARALLELISM must be a whole number from 1 to 16 (got "17")',
    'LATCHKEY_METRICS_TOKEN must be 32 to 512 printable characters without spaces (generate one with `openssl rand -hex 32`)',
    'LATCHKEY_AUDIT_RETENTION must be between 1d and 3650d (got "12h")',
    'LATCHKEY_MAX_EVENT_LOOP_DELAY_MS must be a whole number from 0 to 60000 (got "-1")',
    'LATCHKEY_PRODUCT_NAME must be at most 60 characters, without quotes, angle brackets or line breaks',
    'LATCHKEY_MAIL_FROM must be an address like no-reply@example.com or "Name" <no-reply@example.com> (got "nobody")',
  ])
})
