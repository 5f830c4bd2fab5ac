import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t from 'tap'
import { loadConfig } from '../../server/config.js'
import errorHandler from '../../server/http/error-handler.js'
import {
  loginRateLimit,
  passwordResetRateLimit,
  refreshRateLimit,
  registerRateLimit,
  signupRateLimit,
} from '../../server/http/rate-limit.js'

const REDIS_URL = 'redis://127.0.0.1:6379'
const LIMIT = 3

interface Teardown {
  teardown(fn: () => unknown): void
}

/**
 * A tiny app wired the way buildApp wires it: the error handler, then the limiter, then a route
 * that opts in. trustProxy comes from loadConfig so the value is exactly what production passes
 * for a list of addresses (buildApp hands lists and `false` to Fastify unchanged).
 */
async function buildLimitedApp(
  t: Teardown,
  options: { trustProxy?: string; redis?: Redis | null; url?: string; enabled?: boolean } = {},
): Promise<FastifyInstance> {
  const env: Record<string, string> =
    options.trustProxy === undefined ? {} : { LATCHKEY_TRUST_PROXY: options.trustProxy }
  const trustProxy = loadConfig(env).trustProxy
  if (typeof trustProxy === 'number') throw new Error('hop counts are translated by buildApp; use an address list here')
  const app = Fastify({ trustProxy })
  await app.register(errorHandler)
  await registerRateLimit(app, {
    redis: options.redis ?? null,
    enabled: options.enabled ?? true,
    onStoreError: () => {},
  })
  const response = { 200: { type: 'object', properties: { ip: { type: 'string' } } } }
  app.post(
    options.url ?? '/login',
    { schema: { response }, config: { rateLimit: { max: LIMIT, timeWindow: 60_000 } } },
    async (request) => ({ ip: request.ip }),
  )
  app.post('/unlimited', { schema: { response } }, async (request) => ({ ip: request.ip }))
  await app.ready()
  t.teardown(() => app.close())
  return app
}

/** Fires `count` requests one after another and returns their status codes. */
async function statusesOf(count: number, send: (i: number) => Promise<{ statusCode: number }>): Promise<number[]> {
  const statuses: number[] = []
  for (let i = 0; i < count; i++) statuses.push((await send(i)).statusCode)
  return statuses
}

/** A Redis connection whose keys under `latchkey:rl:` for this test's route are removed afterwards. */
function connectRedis(t: Teardown, routeMarker: string): Redis {
  const redis = new Redis(REDIS_URL)
  t.teardown(async () => {
    const keys = await redis.keys(`latchkey:rl:*${routeMarker}*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })
  return redis
}

t.test('the limit answers 429 with Retry-After and our error body', async (t) => {
  const app = await buildLimitedApp(t)
  const statuses = await statusesOf(LIMIT, () => app.inject({ method: 'POST', url: '/login' }))
  t.same(statuses, [200, 200, 200])

  const res = await app.inject({ method: 'POST', url: '/login' })
  t.equal(res.statusCode, 429)
  const retryAfter = Number(res.headers['retry-after'])
  t.ok(
    retryAfter >= 59 && retryAfter <= 60,
    `Retry-After is the rest of the 60 s window (got ${res.headers['retry-after']})`,
  )
  t.same(res.json(), {
    error: 'rate_limited',
    error_description: `too many requests, retry after ${retryAfter} seconds`,
  })
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers['x-ratelimit-limit'], String(LIMIT))
  t.equal(res.headers['x-ratelimit-remaining'], '0')
})

t.test('routes that do not opt in are not limited', async (t) => {
  const app = await buildLimitedApp(t)
  const statuses = await statusesOf(LIMIT + 2, () => app.inject({ method: 'POST', url: '/unlimited' }))
  t.same(statuses, [200, 200, 200, 200, 200])
})

t.test('with rate limits switched off nothing is counted', async (t) => {
  const app = await buildLimitedApp(t, { enabled: false })
  const statuses = await statusesOf(LIMIT + 2, () => app.inject({ method: 'POST', url: '/login' }))
  t.same(statuses, [200, 200, 200, 200, 200])
})

t.test('without trustProxy a rotating X-Forwarded-For does not escape the limit', async (t) => {
  const app = await buildLimitedApp(t)
  const statuses = await statusesOf(LIMIT + 2, (i) =>
    app.inject({ method: 'POST', url: '/login', headers: { 'x-forwarded-for': `203.0.113.${i + 1}` } }),
  )
  t.same(statuses, [200, 200, 200, 429, 429])
})

t.test('behind a trusted proxy each forwarded client has its own budget', async (t) => {
  // app.inject connects from 127.0.0.1, which plays the proxy here.
  const app = await buildLimitedApp(t, { trustProxy: '127.0.0.1' })
  const first = await statusesOf(LIMIT + 1, () =>
    app.inject({ method: 'POST', url: '/login', headers: { 'x-forwarded-for': '203.0.113.7' } }),
  )
  t.same(first, [200, 200, 200, 429])
  const other = await app.inject({ method: 'POST', url: '/login', headers: { 'x-forwarded-for': '203.0.113.8' } })
  t.equal(other.statusCode, 200)
  t.same(other.json(), { ip: '203.0.113.8' })
})

t.test('behind a trusted proxy a client cannot escape by prepending forged X-Forwarded-For entries', async (t) => {
  // The proxy appends the address it saw; whatever the client wrote stays to the left and is not trusted.
  const app = await buildLimitedApp(t, { trustProxy: '127.0.0.1' })
  const statuses = await statusesOf(LIMIT + 2, (i) =>
    app.inject({ method: 'POST', url: '/login', headers: { 'x-forwarded-for': `198.51.100.${i + 1}, 203.0.113.9` } }),
  )
  t.same(statuses, [200, 200, 200, 429, 429])
})

t.test('with Redis two instances share one budget', async (t) => {
  const marker = randomBytes(6).toString('hex')
  const url = `/login-${marker}`
  const redisA = connectRedis(t, marker)
  const redisB = connectRedis(t, marker)
  const a = await buildLimitedApp(t, { redis: redisA, url })
  const b = await buildLimitedApp(t, { redis: redisB, url })
  const statuses = await statusesOf(LIMIT + 2, (i) => (i % 2 ? b : a).inject({ method: 'POST', url }))
  t.same(statuses, [200, 200, 200, 429, 429])

  const blocked = await b.inject({ method: 'POST', url })
  const retryAfter = Number(blocked.headers['retry-after'])
  t.ok(
    retryAfter >= 59 && retryAfter <= 60,
    `Retry-After comes from the Redis TTL (got ${blocked.headers['retry-after']})`,
  )
  t.same(blocked.json(), {
    error: 'rate_limited',
    error_description: `too many requests, retry after ${retryAfter} seconds`,
  })
  t.same(
    await redisA.keys(`latchkey:rl:*${marker}*`),
    [`latchkey:rl:POST${url}-127.0.0.1`],
    'one counter, under our prefix, per route and address',
  )
})

t.test('the presets are the documented budgets', async (t) => {
  t.same(loginRateLimit, { max: 10, timeWindow: 60_000 })
  t.same(signupRateLimit, { max: 5, timeWindow: 60_000 })
  t.same(passwordResetRateLimit, { max: 5, timeWindow: 15 * 60_000 })
  t.same(refreshRateLimit, { max: 60, timeWindow: 60_000 })
})
