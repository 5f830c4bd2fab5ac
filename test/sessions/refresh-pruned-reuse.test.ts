import { randomBytes } from 'node:crypto'
import t from 'tap'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { browserHeaders, claimsOf, login, nextClientIp, registerUser, sessionCookieOf } from '../helpers/users.js'
import { KEPT_USED_REFRESH_TOKENS } from '../../server/sessions/rotate-refresh-token.js'

const COOKIE = '__Host-latchkey_session='

function refresh(testApp: TestApp, cookie: string) {
  return testApp.app.inject({
    method: 'POST',
    url: '/auth/refresh',
    headers: browserHeaders(cookie),
    remoteAddress: nextClientIp(),
  })
}

async function sessionState(testApp: TestApp, sid: string) {
  return testApp.deps.db
    .selectFrom('sessions')
    .select(['revoked_at', 'revoked_reason'])
    .where('id', '=', sid)
    .executeTakeFirstOrThrow()
}

async function reuseAudits(testApp: TestApp) {
  const rows = await testApp.deps.db
    .selectFrom('audit_events')
    .select('event')
    .where('event', '=', 'refresh.reused')
    .execute()
  return rows.length
}

for (const dialect of testDialects()) {
  t.test(`a stolen token replayed after the thief pruned it still revokes the family on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    await registerUser(testApp, 'ada@example.com')
    const victim = await login(testApp, 'ada@example.com')
    const sid = claimsOf(victim.accessToken).sid as string
    let thief = victim.cookie
    for (let i = 0; i < KEPT_USED_REFRESH_TOKENS + 2; i++) {
      testApp.clock.advance(50)
      const res = await refresh(testApp, thief)
      if (res.statusCode !== 200) throw new Error(`thief refresh ${i}: ${res.statusCode} ${res.body}`)
      thief = sessionCookieOf(res.headers['set-cookie'])
    }
    testApp.clock.advance(testApp.config.refreshReuseGraceMs + 1000)

    const replay = await refresh(testApp, victim.cookie)
    t.equal(replay.statusCode, 401, 'regression: the pruned token was merely unknown before')
    t.same(await sessionState(testApp, sid), { revoked_at: testApp.clock.now(), revoked_reason: 'refresh_reuse' })
    t.equal((await refresh(testApp, thief)).statusCode, 401, "the thief's chain died with the family")
    t.equal(await reuseAudits(testApp), 1, 'refresh.reused was audited')
  })

  t.test(`a forged token naming a live session does not revoke it on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    await registerUser(testApp, 'ada@example.com')
    const ada = await login(testApp, 'ada@example.com')
    const sid = claimsOf(ada.accessToken).sid as string
    t.match(ada.cookie, new RegExp(`^${COOKIE}${sid}\\.`), 'tokens name their session')

    const forged = `${COOKIE}${sid}.${randomBytes(32).toString('base64url')}`
    const res = await refresh(testApp, forged)
    t.equal(res.statusCode, 401)
    t.same(await sessionState(testApp, sid), { revoked_at: null, revoked_reason: null })
    t.equal(await reuseAudits(testApp), 0)

    // Another user's genuine token with this session's id put in front does not verify either.
    await registerUser(testApp, 'bob@example.com')
    const bob = await login(testApp, 'bob@example.com')
    const bobBody = bob.cookie.slice(bob.cookie.indexOf('.') + 1)
    t.equal((await refresh(testApp, `${COOKIE}${sid}.${bobBody}`)).statusCode, 401)
    t.same(await sessionState(testApp, sid), { revoked_at: null, revoked_reason: null })

    t.equal((await refresh(testApp, ada.cookie)).statusCode, 200, "the owner's token still rotates")
  })
}
