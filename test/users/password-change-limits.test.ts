import t from 'tap'
import { buildTestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { PASSWORD, login, nextClientIp, registerUser } from '../helpers/users.js'

// Finding M2: /auth/password-change had no rate limit and no capacity check, and checked the new
// password's policy only after a full argon2 verify: one self-registered account sending changes
// in parallel filled the hashing queue and other users' logins answered 503.

const NEW_PASSWORD = 'a fresh passphrase for spring 2027'

for (const dialect of testDialects()) {
  t.test(`password-change limits on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const { app } = testApp
    await registerUser(testApp, 'mallory@example.com')
    await registerUser(testApp, 'ada@example.com')
    const { accessToken } = await login(testApp, 'mallory@example.com')
    const change = (current: string, next: string) =>
      app.inject({
        method: 'POST',
        url: '/auth/password-change',
        headers: { authorization: `Bearer ${accessToken}` },
        payload: { current_password: current, new_password: next },
        remoteAddress: nextClientIp(),
      })

    t.test('regression M2: a new password the policy refuses is refused before any hashing', async (t) => {
      const res = await change('not the current password', 'short')
      t.equal(res.statusCode, 400, 'the policy answers, not a verify of the current password')
      t.same(res.json(), {
        error: 'password_too_short',
        error_description: `the password must be at least ${testApp.config.passwordMinLength} characters long`,
      })
    })

    t.test("regression M2: one account's flood of password changes leaves other users' logins answered", async (t) => {
      const hasher = testApp.deps.passwordHasher
      const { concurrency, maxQueue } = hasher.limits()
      let settled = 0
      const flood = Array.from({ length: concurrency + maxQueue + 4 }, () =>
        change(PASSWORD, NEW_PASSWORD).finally(() => settled++),
      )
      // Wait until the flood either filled the queue or was answered.
      for (let turns = 0; settled < flood.length; turns++) {
        const { running, queued } = hasher.stats()
        if (running >= concurrency && queued >= maxQueue) break
        if (turns > 1_000_000) throw new Error('the flood neither filled the queue nor ended')
        await new Promise((resolve) => setImmediate(resolve))
      }
      const other = await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: 'ada@example.com', password: PASSWORD },
        remoteAddress: nextClientIp(),
      })
      t.equal(other.statusCode, 200, 'another user signs in meanwhile')
      const statuses = (await Promise.all(flood)).map((r) => r.statusCode)
      t.equal(statuses.filter((s) => s === 204).length, 1, `one change goes through: ${statuses.join(',')}`)
      t.ok(
        statuses.every((s) => [204, 403, 429, 503].includes(s)),
        'the rest are refused as busy, limited or made with a replaced password',
      )
    })
  })
}
