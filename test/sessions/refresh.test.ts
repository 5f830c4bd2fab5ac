import t from 'tap'
import { buildTestApp, registerClient, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import {
  PASSWORD,
  browserHeaders,
  claimsOf,
  login,
  nextClientIp,
  registerUser,
  sessionCookieOf,
} from '../helpers/users.js'

const form = 'application/x-www-form-urlencoded'

function refresh(testApp: TestApp, cookie: string, headers = browserHeaders(cookie)) {
  return testApp.app.inject({ method: 'POST', url: '/auth/refresh', headers, remoteAddress: nextClientIp() })
}

async function introspect(testApp: TestApp, basic: string, token: string) {
  const res = await testApp.app.inject({
    method: 'POST',
    url: '/oauth/introspect',
    headers: { 'content-type': form, authorization: basic },
    payload: new URLSearchParams({ token }).toString(),
  })
  return res.json()
}

for (const dialect of testDialects()) {
  t.test(`sessions and refresh on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const { app, clock } = testApp
    // Registered for introspection, serving both the user tokens' audience and its own (L3).
    const resourceServer = await registerClient(testApp, {
      name: 'notes api',
      audiences: ['https://api.example.com', testApp.config.defaultAudience],
      introspection: true,
    })
    let n = 0
    const newUser = async () => {
      const email = `user${++n}@example.com`
      await registerUser(testApp, email)
      return { email, ...(await login(testApp, email)) }
    }

    t.test('refresh rotates the cookie and returns a new access token for the same session', async (t) => {
      const user = await newUser()
      const res = await refresh(testApp, user.cookie)
      t.equal(res.statusCode, 200)
      const next = sessionCookieOf(res.headers['set-cookie'])
      t.not(next, user.cookie)
      t.equal(claimsOf(res.json().access_token).sid, claimsOf(user.accessToken).sid)
    })

    t.test('refresh needs an allowed Origin and the X-Requested-With header', async (t) => {
      const user = await newUser()
      const refused: Record<string, string>[] = [
        { cookie: user.cookie, 'x-requested-with': 'latchkey' },
        { ...browserHeaders(user.cookie), origin: 'https://evil.example' },
        { ...browserHeaders(user.cookie), origin: 'null' },
        { cookie: user.cookie, origin: browserHeaders().origin! },
      ]
      for (const headers of refused) {
        const res = await refresh(testApp, user.cookie, headers)
        t.equal(res.statusCode, 403)
        t.equal(res.json().error, 'forbidden')
      }
      t.equal((await refresh(testApp, user.cookie)).statusCode, 200, 'the cookie was not spent by the refused requests')
    })

    t.test('a replay within the grace window returns the same successor; outside it the family dies', async (t) => {
      const user = await newUser()
      const first = sessionCookieOf((await refresh(testApp, user.cookie)).headers['set-cookie'])
      const again = await refresh(testApp, user.cookie)
      t.equal(again.statusCode, 200)
      t.equal(sessionCookieOf(again.headers['set-cookie']), first, 'same successor, not a second live one')

      clock.advance(testApp.config.refreshReuseGraceMs)
      const reuse = await refresh(testApp, user.cookie)
      t.equal(reuse.statusCode, 401)
      t.same(reuse.json(), { error: 'invalid_session', error_description: 'there is no valid session; sign in again' })
      t.match(reuse.headers['set-cookie'], /^__Host-latchkey_session=; Max-Age=0;|Expires=Thu, 01 Jan 1970/)
      t.equal((await refresh(testApp, first)).statusCode, 401, 'the successor died with the family')
      t.same(
        await introspect(testApp, resourceServer.basic, user.accessToken),
        { active: false },
        'and so did its access tokens',
      )
      const events = await testApp.deps.db
        .selectFrom('audit_events')
        .select('event')
        .where('event', '=', 'refresh.reused')
        .execute()
      t.ok(events.length >= 1, 'reuse recorded as a security event')
    })

    t.test('50 parallel refreshes with one token leave exactly one live successor', async (t) => {
      const user = await newUser()
      const responses = await Promise.all(Array.from({ length: 50 }, () => refresh(testApp, user.cookie)))
      const successors = new Set<string>()
      for (const res of responses) {
        if (res.statusCode === 200) successors.add(sessionCookieOf(res.headers['set-cookie']))
        else t.equal(res.statusCode, 401)
      }
      t.equal(successors.size, 1, 'every success carries the same successor')
      const live = await testApp.deps.db
        .selectFrom('refresh_tokens')
        .select('id')
        .where('session_id', '=', claimsOf(user.accessToken).sid as string)
        .where('used_at', 'is', null)
        .execute()
      t.equal(live.length, 1, 'one unused refresh token in the family')
      t.equal((await refresh(testApp, [...successors][0]!)).statusCode, 200, 'and it works')
    })

    t.test('idle and absolute expiry end a session', async (t) => {
      const user = await newUser()
      clock.advance(testApp.config.refreshTokenIdleTtlMs)
      t.equal((await refresh(testApp, user.cookie)).statusCode, 401, 'idle too long')
      const other = await newUser()
      let cookie = other.cookie
      for (let elapsed = 0; elapsed < testApp.config.refreshTokenTtlMs - 86_400_000; elapsed += 6 * 86_400_000) {
        clock.advance(6 * 86_400_000)
        const res = await refresh(testApp, cookie)
        if (res.statusCode !== 200) break
        cookie = sessionCookieOf(res.headers['set-cookie'])
      }
      clock.advance(2 * 86_400_000)
      t.equal((await refresh(testApp, cookie)).statusCode, 401, 'never beyond the absolute lifetime, however active')
    })

    t.test('logout revokes the session, clears the cookie and is idempotent', async (t) => {
      const user = await newUser()
      t.same(await introspect(testApp, resourceServer.basic, user.accessToken), {
        active: true,
        token_type: 'Bearer',
        client_id: 'latchkey',
        sub: claimsOf(user.accessToken).sub,
        exp: claimsOf(user.accessToken).exp,
        iat: claimsOf(user.accessToken).iat,
        iss: testApp.config.issuer,
        jti: claimsOf(user.accessToken).jti,
        aud: testApp.config.defaultAudience,
        sid: claimsOf(user.accessToken).sid,
      })
      const out = await app.inject({ method: 'POST', url: '/auth/logout', headers: browserHeaders(user.cookie) })
      t.equal(out.statusCode, 204)
      t.match(out.headers['set-cookie'], /^__Host-latchkey_session=;/)
      t.same(await introspect(testApp, resourceServer.basic, user.accessToken), { active: false })
      t.equal((await refresh(testApp, user.cookie)).statusCode, 401)
      t.equal(
        (await app.inject({ method: 'POST', url: '/auth/logout', headers: browserHeaders(user.cookie) })).statusCode,
        204,
      )
      t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: browserHeaders() })).statusCode, 204)
      t.equal(
        (await app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${user.accessToken}` } })).statusCode,
        401,
      )
    })

    t.test('password change ends every other session but not the current one', async (t) => {
      const user = await newUser()
      const laptop = await login(testApp, user.email)
      const res = await app.inject({
        method: 'POST',
        url: '/auth/password-change',
        headers: { authorization: `Bearer ${user.accessToken}` },
        payload: { current_password: PASSWORD, new_password: 'a whole new passphrase 7' },
      })
      t.equal(res.statusCode, 204)
      t.same(
        await introspect(testApp, resourceServer.basic, laptop.accessToken),
        { active: false },
        'other session gone',
      )
      t.equal((await refresh(testApp, laptop.cookie)).statusCode, 401)
      t.equal((await introspect(testApp, resourceServer.basic, user.accessToken)).active, true, 'current session stays')
      t.equal(
        (
          await app.inject({
            method: 'POST',
            url: '/auth/login',
            payload: { email: user.email, password: PASSWORD },
            remoteAddress: '10.9.9.9',
          })
        ).statusCode,
        401,
        'old password no longer works',
      )
      await login(testApp, user.email, 'a whole new passphrase 7')
      const wrong = await app.inject({
        method: 'POST',
        url: '/auth/password-change',
        headers: { authorization: `Bearer ${user.accessToken}` },
        payload: { current_password: 'not my password at all', new_password: 'yet another passphrase 8' },
      })
      t.equal(wrong.statusCode, 403)
      t.equal(wrong.json().error, 'invalid_credentials')
    })

    t.test('sessions can be listed and ended one by one; logout-all ends them all', async (t) => {
      const user = await newUser()
      const phone = await login(testApp, user.email)
      const list = await app.inject({ url: '/auth/sessions', headers: { authorization: `Bearer ${user.accessToken}` } })
      t.equal(list.statusCode, 200)
      const sessions = list.json().sessions as { id: string; current: boolean }[]
      t.equal(sessions.length, 2)
      t.same(
        sessions.filter((s) => s.current).map((s) => s.id),
        [claimsOf(user.accessToken).sid],
      )
      const del = await app.inject({
        method: 'DELETE',
        url: `/auth/sessions/${claimsOf(phone.accessToken).sid}`,
        headers: { authorization: `Bearer ${user.accessToken}` },
      })
      t.equal(del.statusCode, 204)
      t.same(await introspect(testApp, resourceServer.basic, phone.accessToken), { active: false })
      const stranger = await newUser()
      const foreign = await app.inject({
        method: 'DELETE',
        url: `/auth/sessions/${claimsOf(stranger.accessToken).sid}`,
        headers: { authorization: `Bearer ${user.accessToken}` },
      })
      t.equal(foreign.statusCode, 404, "another user's session looks unknown")
      t.equal((await introspect(testApp, resourceServer.basic, stranger.accessToken)).active, true)

      const all = await app.inject({
        method: 'POST',
        url: '/auth/logout-all',
        headers: { authorization: `Bearer ${user.accessToken}` },
      })
      t.equal(all.statusCode, 204)
      t.same(await introspect(testApp, resourceServer.basic, user.accessToken), { active: false })
    })

    t.test('introspection and revocation follow RFC 7662 and RFC 7009', async (t) => {
      const other = await registerClient(testApp, { name: 'other', introspection: true })
      t.same(await introspect(testApp, resourceServer.basic, 'garbage'), { active: false })
      const spa = await registerClient(testApp, { name: 'spa', type: 'public', grantTypes: ['refresh_token'] })
      const byPublic = await app.inject({
        method: 'POST',
        url: '/oauth/introspect',
        headers: { 'content-type': form },
        payload: `token=x&client_id=${spa.id}`,
      })
      t.equal(byPublic.statusCode, 401, 'a public client cannot introspect')
      t.same(byPublic.json(), {
        error: 'invalid_client',
        error_description: 'introspection requires a confidential client',
      })
      const noAuth = await app.inject({
        method: 'POST',
        url: '/oauth/introspect',
        headers: { 'content-type': form },
        payload: 'token=x',
      })
      t.equal(noAuth.statusCode, 401)
      t.equal(noAuth.json().error, 'invalid_client')

      const cc = await app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': form, authorization: resourceServer.basic },
        payload: 'grant_type=client_credentials',
      })
      const ccToken = cc.json().access_token as string
      t.equal((await introspect(testApp, other.basic, ccToken)).active, true)
      const foreign = await app.inject({
        method: 'POST',
        url: '/oauth/revoke',
        headers: { 'content-type': form, authorization: other.basic },
        payload: `token=${ccToken}`,
      })
      t.equal(foreign.statusCode, 200, "another client's token: 200, but nothing happens")
      t.equal((await introspect(testApp, other.basic, ccToken)).active, true)
      const own = await app.inject({
        method: 'POST',
        url: '/oauth/revoke',
        headers: { 'content-type': form, authorization: resourceServer.basic },
        payload: `token=${ccToken}&token_type_hint=access_token`,
      })
      t.equal(own.statusCode, 200)
      t.same(own.json(), {})
      t.same(await introspect(testApp, other.basic, ccToken), { active: false })
      t.equal(
        (
          await app.inject({
            method: 'POST',
            url: '/oauth/revoke',
            headers: { 'content-type': form, authorization: resourceServer.basic },
            payload: 'token=unknown',
          })
        ).statusCode,
        200,
      )
      const hint = await app.inject({
        method: 'POST',
        url: '/oauth/revoke',
        headers: { 'content-type': form, authorization: resourceServer.basic },
        payload: 'token=x&token_type_hint=id_token',
      })
      t.equal(hint.statusCode, 400)
      t.same(hint.json(), {
        error: 'unsupported_token_type',
        error_description: 'token_type_hint id_token is not supported',
      })
      clock.advance(testApp.config.accessTokenTtlMs)
      const user = await newUser()
      clock.advance(testApp.config.accessTokenTtlMs)
      t.same(await introspect(testApp, resourceServer.basic, user.accessToken), { active: false }, 'expired')
    })

    t.test('a disabled user loses every session at once', async (t) => {
      const user = await newUser()
      const id = claimsOf(user.accessToken).sub as string
      const { setUserDisabled } = await import('../../server/users/user.store.js')
      const { revokeSessionsOfUser } = await import('../../server/sessions/session.store.js')
      await setUserDisabled(testApp.deps.db, id, clock.now())
      await revokeSessionsOfUser(testApp.deps.db, id, 'user_disabled', clock.now())
      t.same(await introspect(testApp, resourceServer.basic, user.accessToken), { active: false })
      t.equal((await refresh(testApp, user.cookie)).statusCode, 401)
    })
  })
}

t.test('CORS allows exactly the configured origins with credentials', async (t) => {
  const testApp = await buildTestApp(t, { env: { LATCHKEY_CORS_ORIGINS: 'https://app.example.com' } })
  const preflight = (origin: string) =>
    testApp.app.inject({
      method: 'OPTIONS',
      url: '/auth/refresh',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'x-requested-with',
      },
    })
  const allowed = await preflight('https://app.example.com')
  t.equal(allowed.headers['access-control-allow-origin'], 'https://app.example.com')
  t.equal(allowed.headers['access-control-allow-credentials'], 'true')
  t.match(allowed.headers.vary, /Origin/)
  for (const origin of ['https://evil.example', 'null']) {
    const res = await preflight(origin)
    t.notOk(res.headers['access-control-allow-origin'], `${origin} gets no CORS grant`)
  }
})
