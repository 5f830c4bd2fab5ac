import { randomBytes } from 'node:crypto'
import t from 'tap'
import { Redis } from 'ioredis'
import {
  createLoginBackoff,
  createMemoryBackoffStore,
  createRedisBackoffStore,
  type BackoffStore,
} from '../../server/users/login-backoff.js'
import { buildTestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { createTestClock } from '../helpers/test-clock.js'
import { nextClientIp, registerUser } from '../helpers/users.js'

// Finding M3: the back-off was checked before a guess and counted after it, so guesses sent in
// parallel were all evaluated where the policy allows one. The attempt is now reserved (counted)
// atomically before the guess is verified, in memory and in Redis (one Lua script).

const REDIS_URL = 'redis://127.0.0.1:6379'
const secret = randomBytes(32)

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
  t.test(`reservations with the ${name} store`, async (t) => {
    t.test('of 8 parallel attempts after five failures exactly one is let through', async (t) => {
      const clock = createTestClock()
      const backoff = createLoginBackoff(makeStore(t), clock, secret)
      for (let i = 0; i < 5; i++) t.equal((await backoff.reserve('ada@example.com')).allowed, true)
      clock.advance(1000)
      const verdicts = await Promise.all(Array.from({ length: 8 }, () => backoff.reserve('ada@example.com')))
      t.equal(verdicts.filter((v) => v.allowed).length, 1)
      t.same(
        verdicts.filter((v) => !v.allowed),
        Array.from({ length: 7 }, () => ({ allowed: false, locked: false, retryAfterSeconds: 2 })),
        'the others wait for the delay the reserved attempt started',
      )
    })

    t.test('a released reservation leaves the state as it was; a success clears it', async (t) => {
      const clock = createTestClock()
      const backoff = createLoginBackoff(makeStore(t), clock, secret)
      for (let i = 0; i < 5; i++) await backoff.reserve('bob@example.com')
      clock.advance(1000)
      const gate = await backoff.reserve('bob@example.com')
      await gate.reservation!.release()
      t.same(await backoff.check('bob@example.com'), { allowed: true }, 'five failures, the last one a second ago')
      await backoff.recordSuccess('bob@example.com')
      t.same(await backoff.reserve('carol@example.com').then((v) => v.allowed), true)
      const fresh = await backoff.reserve('dan@example.com')
      await fresh.reservation!.release()
      for (let i = 0; i < 5; i++) t.equal((await backoff.reserve('dan@example.com')).allowed, true, 'nothing was left')
    })
  })
}

for (const dialect of testDialects()) {
  for (const [backend, env] of [
    ['memory', {}],
    ['redis', { REDIS_URL }],
  ] as const) {
    t.test(`regression M3: parallel wrong passwords on ${dialect} with the ${backend} back-off`, async (t) => {
      const testApp = await buildTestApp(t, { dialect, env })
      const email = `m3-${randomBytes(4).toString('hex')}@example.com`
      await registerUser(testApp, email)
      const guess = () =>
        testApp.app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email, password: 'not the password at all' },
          remoteAddress: nextClientIp(),
        })
      for (let i = 0; i < 5; i++) t.equal((await guess()).statusCode, 401)
      testApp.clock.advance(1000)
      const answers = await Promise.all(Array.from({ length: 8 }, guess))
      const statuses = answers.map((r) => r.statusCode).sort()
      t.same(statuses, [401, 429, 429, 429, 429, 429, 429, 429], 'one guess evaluated, seven refused')
      for (const r of answers.filter((a) => a.statusCode === 429))
        t.same(r.json(), {
          error: 'too_many_attempts',
          error_description: 'too many failed attempts; retry after 2 seconds',
        })
    })
  }
}
