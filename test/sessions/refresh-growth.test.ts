import t from 'tap'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { browserHeaders, claimsOf, login, nextClientIp, registerUser, sessionCookieOf } from '../helpers/users.js'
import { KEPT_USED_REFRESH_TOKENS } from '../../server/sessions/rotate-refresh-token.js'

const REFRESHES = 120

function refresh(testApp: TestApp, cookie: string) {
  return testApp.app.inject({
    method: 'POST',
    url: '/auth/refresh',
    headers: browserHeaders(cookie),
    remoteAddress: nextClientIp(),
  })
}

async function countRows(testApp: TestApp, table: 'refresh_tokens' | 'sessions' | 'audit_events' | 'signin_sessions') {
  const row = await testApp.deps.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

for (const dialect of testDialects()) {
  t.test(`one session looping refreshes on ${dialect} (L2)`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    await registerUser(testApp, 'ada@example.com')
    const ada = await login(testApp, 'ada@example.com')
    const sid = claimsOf(ada.accessToken).sid as string
    const before = {
      sessions: await countRows(testApp, 'sessions'),
      audit: await countRows(testApp, 'audit_events'),
      signins: await countRows(testApp, 'signin_sessions'),
    }
    const cookies = [ada.cookie]
    for (let i = 0; i < REFRESHES; i++) {
      testApp.clock.advance(testApp.config.refreshReuseGraceMs + 1000)
      const res = await refresh(testApp, cookies.at(-1)!)
      if (res.statusCode !== 200) throw new Error(`refresh ${i}: ${res.statusCode} ${res.body}`)
      cookies.push(sessionCookieOf(res.headers['set-cookie']))
    }

    t.test('the rows one session leaves behind stay bounded', async (t) => {
      const refreshTokens = await countRows(testApp, 'refresh_tokens')
      t.ok(
        refreshTokens <= KEPT_USED_REFRESH_TOKENS + 2,
        `regression: ${refreshTokens} refresh_tokens rows after ${REFRESHES} refreshes (one per refresh before)`,
      )
      t.equal(await countRows(testApp, 'sessions'), before.sessions, 'no session row per refresh')
      t.equal(await countRows(testApp, 'signin_sessions'), before.signins, 'no sign-in row per refresh')
      t.equal(await countRows(testApp, 'audit_events'), before.audit, 'no audit row per refresh')
    })

    t.test('a replayed recent token still revokes the whole family', async (t) => {
      const stolen = cookies.at(-3)!
      const replay = await refresh(testApp, stolen)
      t.equal(replay.statusCode, 401)
      t.equal(replay.json().error, 'invalid_session')
      const session = await testApp.deps.db
        .selectFrom('sessions')
        .select(['revoked_at', 'revoked_reason'])
        .where('id', '=', sid)
        .executeTakeFirstOrThrow()
      t.not(session.revoked_at, null, 'the family was revoked')
      t.equal((await refresh(testApp, cookies.at(-1)!)).statusCode, 401, 'the live successor died with it')
    })
  })
}
