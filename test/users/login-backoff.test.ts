import { createHash, randomBytes } from 'node:crypto'
import t from 'tap'
import { Redis } from 'ioredis'
import {
  backoffDelayMs,
  createLoginBackoff,
  createMemoryBackoffStore,
  createRedisBackoffStore,
  type BackoffStore,
} from '../../server/users/login-backoff.js'
import { buildTestApp } from '../helpers/build-test-app.js'
import { createTestClock } from '../helpers/test-clock.js'
import { nextClientIp, PASSWORD, registerUser } from '../helpers/users.js'

const REDIS_URL = 'redis://127.0.0.1:6379'
const secret = randomBytes(32)

t.test('delays double after five free failures and stop at 15 minutes', async (t) => {
  t.same([4, 5, 6, 7, 10, 15, 50].map(backoffDelayMs), [0, 1000, 2000, 4000, 32_000, 900_000, 900_000])
})

const stores: [string, (t: Tap) => BackoffStore][] = [
  ['memory', () => createMemoryBackoffStore()],
  [
    'redis',
    (t) => {
      const redis = new Redis(REDIS_URL)
      const prefix = `latchkey:test:${randomBytes(4).toString('hex')}:`
      t.teardown(async () => {
        const keys = await redis.keys(`${prefix}*`)
        if (keys.length > 0) await redis.del(...keys)
        redis.disconnect()
      })
      return createRedisBackoffStore(redis, prefix)
    },
  ],
]
type Tap = { teardown(fn: () => unknown): void }

for (const [name, makeStore] of stores) {
  t.test(`back-off with the ${name} store`, async (t) => {
    t.test('engages after five failures and releases exactly when the delay has passed', async (t) => {
      const clock = createTestClock()
      const backoff = createLoginBackoff(makeStore(t), clock, secret)
      for (let i = 0; i < 5; i++) {
        t.same(await backoff.check('ada@example.com'), { allowed: true })
        await backoff.recordFailure('ada@example.com')
      }
      t.same(await backoff.check('ada@example.com'), { allowed: false, locked: false, retryAfterSeconds: 1 })
      clock.advance(999)
      t.equal((await backoff.check('ada@example.com')).allowed, false)
      clock.advance(1)
      t.same(await backoff.check('ada@example.com'), { allowed: true })
      await backoff.recordFailure('ada@example.com')
      t.same(await backoff.check('ada@example.com'), { allowed: false, locked: false, retryAfterSeconds: 2 })
      await backoff.recordSuccess('ada@example.com')
      t.same(await backoff.check('ada@example.com'), { allowed: true }, 'a success clears it')
      t.same(await backoff.check('grace@example.com'), { allowed: true }, 'other accounts are unaffected')
    })

    t.test('100 consecutive failures lock until a reset; nothing less is permanent', async (t) => {
      const clock = createTestClock()
      const backoff = createLoginBackoff(makeStore(t), clock, secret)
      for (let i = 0; i < 100; i++) {
        await backoff.recordFailure('bob@example.com')
        clock.advance(15 * 60_000)
      }
      t.match(await backoff.check('bob@example.com'), { allowed: false, locked: true })
      await backoff.reset('bob@example.com')
      t.same(await backoff.check('bob@example.com'), { allowed: true }, 'a reset lifts the lock')
      for (let i = 0; i < 100; i++) await backoff.recordFailure('carol@example.com')
      t.same(await backoff.check('carol@example.com'), { allowed: false, locked: true, retryAfterSeconds: 86_400 })
      clock.advance(86_400_000)
      t.same(
        await backoff.check('carol@example.com'),
        { allowed: true },
        'and without one it ends after 24 h: an attacker cannot lock an account for good',
      )
    })

    if (name === 'redis') {
      t.test('two instances sharing Redis count every failure, and keys hold no address', async (t) => {
        const clock = createTestClock()
        const store = makeStore(t)
        const a = createLoginBackoff(store, clock, secret)
        const b = createLoginBackoff(store, clock, secret)
        await Promise.all(
          [1, 2, 3].flatMap(() => [a.recordFailure('eve@example.com'), b.recordFailure('eve@example.com')]),
        )
        t.match(await a.check('eve@example.com'), { allowed: false })
        const redis = new Redis(REDIS_URL)
        const keys = await redis.keys('latchkey:test:*')
        redis.disconnect()
        t.notOk(
          keys.some((k) => k.includes('eve')),
          'hashed keys only',
        )
        const plainHash = createHash('sha256').update('eve@example.com').digest('hex')
        t.notOk(
          keys.some((k) => k.includes(plainHash)),
          'keyed by an HMAC, so a list of candidate addresses cannot be checked against the keys',
        )
        const stranger = createLoginBackoff(store, clock, randomBytes(32))
        t.same(
          await stranger.check('eve@example.com'),
          { allowed: true },
          'without the secret the state cannot even be found',
        )
      })
    }
  })
}

t.test('with REDIS_URL two Latchkey instances share back-off and rate limits', async (t) => {
  const env = { REDIS_URL }
  const first = await buildTestApp(t, { env })
  const second = await buildTestApp(t, { env, database: first.database, dataDir: first.dataDir })
  const email = `shared-${randomBytes(4).toString('hex')}@example.com`
  await registerUser(first, email)
  const attempt = (app: typeof first.app, password: string) =>
    app.inject({ method: 'POST', url: '/auth/login', payload: { email, password }, remoteAddress: nextClientIp() })
  for (let i = 0; i < 5; i++) await attempt(i % 2 ? first.app : second.app, 'wrong password entirely')
  const blocked = await attempt(first.app, PASSWORD)
  t.equal(blocked.statusCode, 429, 'failures on both instances counted together')
  t.equal(blocked.json().error, 'too_many_attempts')

  const ip = `198.51.100.${Math.floor(Math.random() * 200)}`
  const statuses: number[] = []
  for (let i = 0; i < 12; i++) {
    const res = await (i % 2 ? first.app : second.app).inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: `n${i}-${email}`, password: PASSWORD },
      remoteAddress: ip,
    })
    statuses.push(res.statusCode)
  }
  t.equal(
    statuses.filter((s) => s === 429).length,
    2,
    `one per-IP budget of 10 across both instances: ${statuses.join(',')}`,
  )
})

t.test('with Redis down, login answers 503 with Retry-After, never 500', async (t) => {
  const testApp = await buildTestApp(t, { env: { REDIS_URL: 'redis://127.0.0.1:9' } })
  const res = await testApp.app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email: 'down@example.com', password: PASSWORD },
    remoteAddress: nextClientIp(),
  })
  t.equal(res.statusCode, 503)
  t.same(res.json(), {
    error: 'temporarily_unavailable',
    error_description: 'sign-in protection is temporarily unavailable, retry shortly',
  })
  t.equal(res.headers['retry-after'], '5')
})
