import t from 'tap'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { browserHeaders, claimsOf, login, registerUser } from '../helpers/users.js'
import { revokeSession } from '../../server/sessions/session.store.js'
import { runMaintenance } from '../../server/maintenance.js'

interface Feed {
  cursor: string
  full: boolean
  sessions: Array<{ sid: string; until: number }>
  tokens: Array<{ jti: string; until: number }>
  users: Array<{ sub: string; issued_before: number; until: number }>
}

for (const dialect of testDialects()) {
  t.test(`revocation feed on ${dialect}`, async (t) => {
    t.test('an empty feed is public, revalidated every time, and answers 304 to its ETag', async (t) => {
      const testApp = await buildTestApp(t, { dialect })
      const res = await testApp.app.inject('/oauth/revocations')
      t.equal(res.statusCode, 200)
      t.equal(res.headers['cache-control'], 'public, no-cache')
      t.match(res.headers['content-type'], /^application\/json/)
      t.same(res.json(), { cursor: String(testApp.clock.now()), full: true, sessions: [], tokens: [], users: [] })
      const etag = res.headers.etag as string
      t.match(etag, /^"[\w-]{27}"$/)
      const again = await testApp.app.inject({ url: '/oauth/revocations', headers: { 'if-none-match': etag } })
      t.equal(again.statusCode, 304)
      t.equal(again.body, '')
      t.equal(
        again.headers['content-length'],
        undefined,
        'regression: a 304 declared a 4-byte body ("null") and autocannon counted nothing',
      )
      t.equal(again.headers.etag, etag)
      const weak = await testApp.app.inject({
        url: '/oauth/revocations',
        headers: { 'if-none-match': `"other", W/${etag}` },
      })
      t.equal(weak.statusCode, 304, 'a list with the weak form of the tag matches too')
    })

    t.test(
      'logout, logout-all and token revocation appear with the time until they matter, then drop out',
      async (t) => {
        const testApp = await buildTestApp(t, { dialect })
        const ttl = testApp.config.accessTokenTtlMs
        const skew = testApp.config.clockSkewMs
        await registerUser(testApp, 'ada@example.com')
        await registerUser(testApp, 'bob@example.com')
        const ada = await login(testApp, 'ada@example.com')
        const bob = await login(testApp, 'bob@example.com')
        const before = await testApp.app.inject('/oauth/revocations')

        const logout = await testApp.app.inject({
          method: 'POST',
          url: '/auth/logout',
          headers: browserHeaders(ada.cookie),
        })
        t.equal(logout.statusCode, 204)
        const logoutAt = testApp.clock.now()
        testApp.clock.advance(1500)
        const all = await testApp.app.inject({
          method: 'POST',
          url: '/auth/logout-all',
          headers: { authorization: `Bearer ${bob.accessToken}` },
        })
        t.equal(all.statusCode, 204)
        const allAt = testApp.clock.now()
        const client = await registerClient(testApp)
        const issued = await testApp.app.inject({
          method: 'POST',
          url: '/oauth/token',
          headers: { authorization: client.basic, 'content-type': 'application/x-www-form-urlencoded' },
          payload: 'grant_type=client_credentials',
        })
        const clientToken = issued.json().access_token as string
        const read = await testApp.app.inject('/oauth/revocations')
        const revoke = await testApp.app.inject({
          method: 'POST',
          url: '/oauth/revoke',
          headers: { authorization: client.basic, 'content-type': 'application/x-www-form-urlencoded' },
          payload: `token=${clientToken}`,
        })
        t.equal(revoke.statusCode, 200)
        // Within one refresh interval the snapshot in memory answers, without a query.
        const cached = await testApp.app.inject({
          url: '/oauth/revocations',
          headers: { 'if-none-match': read.headers.etag as string },
        })
        t.equal(cached.statusCode, 304, 'a revocation is served at most REVOCATION_FEED_REFRESH_MS late')
        testApp.clock.advance(1000)
        const res = await testApp.app.inject('/oauth/revocations')
        const feed = res.json() as Feed
        t.not(res.headers.etag, before.headers.etag)
        const adaSid = claimsOf(ada.accessToken).sid as string
        const bobSid = claimsOf(bob.accessToken).sid as string
        const bobSub = claimsOf(bob.accessToken).sub as string
        const claims = claimsOf(clientToken)
        t.same(
          feed.sessions,
          [
            { sid: adaSid, until: Math.ceil((logoutAt + ttl + skew) / 1000) },
            { sid: bobSid, until: Math.ceil((allAt + ttl + skew) / 1000) },
          ].sort((a, b) => (a.sid < b.sid ? -1 : 1)),
        )
        t.same(feed.tokens, [{ jti: claims.jti, until: Math.ceil(((claims.exp as number) * 1000 + skew) / 1000) }])
        t.same(feed.users, [
          { sub: bobSub, issued_before: Math.floor(allAt / 1000), until: Math.ceil((allAt + ttl + skew) / 1000) },
        ])

        testApp.clock.set(logoutAt + ttl + skew + 1)
        const later = (await testApp.app.inject('/oauth/revocations')).json() as Feed
        t.same(
          later.sessions.map((s) => s.sid),
          [bobSid],
          "ada's logout no longer matters once her tokens have expired",
        )
        testApp.clock.set(allAt + ttl + skew + 1)
        const done = (await testApp.app.inject('/oauth/revocations')).json() as Feed
        t.same([done.sessions, done.tokens, done.users], [[], [], []])
      },
    )

    t.test(
      'since a cursor returns only recent changes, and repeats a revocation that committed after a later read',
      async (t) => {
        const testApp = await buildTestApp(t, { dialect })
        await registerUser(testApp, 'ada@example.com')
        const first = await login(testApp, 'ada@example.com')
        const second = await login(testApp, 'ada@example.com')
        const firstSid = claimsOf(first.accessToken).sid as string
        const secondSid = claimsOf(second.accessToken).sid as string
        await revokeSession(testApp.deps.db, firstSid, 'logout', testApp.clock.now())
        testApp.clock.advance(120_000)
        const read = (await testApp.app.inject('/oauth/revocations')).json() as Feed
        t.same(
          read.sessions.map((s) => s.sid),
          [firstSid],
        )

        // A revocation stamped 10 s before that read, but committed only now (a slow transaction, or an
        // instance whose clock is behind): a poller holding the cursor must still get it.
        await revokeSession(testApp.deps.db, secondSid, 'logout', Number(read.cursor) - 10_000)
        testApp.clock.advance(1000)
        const delta = await testApp.app.inject(`/oauth/revocations?since=${read.cursor}`)
        t.equal(delta.statusCode, 200)
        const changes = delta.json() as Feed
        t.equal(changes.full, false)
        t.same(
          changes.sessions.map((s) => s.sid),
          [secondSid],
          'the older revocation outside the overlap is not repeated',
        )
        t.equal(changes.cursor, String(testApp.clock.now()))

        const tooOld = (await testApp.app.inject('/oauth/revocations?since=1')).json() as Feed
        t.equal(tooOld.full, true, "a cursor older than the feed's reach gets everything")
        t.equal(tooOld.sessions.length, 2)
        const future = (
          await testApp.app.inject(`/oauth/revocations?since=${testApp.clock.now() + 60_000}`)
        ).json() as Feed
        t.equal(future.full, true)
      },
    )

    t.test('maintenance keeps a revoked access token as long as the feed lists it', async (t) => {
      const testApp = await buildTestApp(t, { dialect })
      const client = await registerClient(testApp)
      const form = { authorization: client.basic, 'content-type': 'application/x-www-form-urlencoded' }
      const issued = await testApp.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: form,
        payload: 'grant_type=client_credentials',
      })
      const token = issued.json().access_token as string
      await testApp.app.inject({ method: 'POST', url: '/oauth/revoke', headers: form, payload: `token=${token}` })
      const exp = (claimsOf(token).exp as number) * 1000
      testApp.clock.set(exp + 1)
      await runMaintenance(testApp.deps)
      t.same(
        ((await testApp.app.inject('/oauth/revocations')).json() as Feed).tokens.map((e) => e.jti),
        [claimsOf(token).jti],
        'past exp, still within the skew a verifier may allow',
      )
      testApp.clock.set(exp + testApp.config.clockSkewMs + 1)
      await runMaintenance(testApp.deps)
      // Back inside the skew (a later snapshot read), to show the row itself is gone.
      testApp.clock.set(exp + 1001)
      t.same(
        ((await testApp.app.inject('/oauth/revocations')).json() as Feed).tokens,
        [],
        'gone from the table once past exp + skew',
      )
    })

    t.test('a malformed cursor is a 400 in the common error shape', async (t) => {
      const testApp = await buildTestApp(t, { dialect })
      for (const since of ['abc', '-1', '1'.repeat(40), '']) {
        const res = await testApp.app.inject(`/oauth/revocations?since=${since}`)
        t.equal(res.statusCode, 400, `since=${since.slice(0, 10)}`)
        t.equal(res.json().error, 'invalid_request')
      }
    })
  })
}
