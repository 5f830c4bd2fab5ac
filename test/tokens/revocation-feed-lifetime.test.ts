import t from 'tap'
import { buildTestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { browserHeaders, claimsOf, login, registerUser } from '../helpers/users.js'
import { runMaintenance } from '../../server/maintenance.js'

interface Feed {
  sessions: Array<{ sid: string; until: number }>
  users: Array<{ sub: string; issued_before: number; until: number }>
}

for (const dialect of testDialects()) {
  t.test(`a lowered access-token lifetime on ${dialect}`, async (t) => {
    const dataDir = t.testdir()
    const before = await buildTestApp(t, { dialect, dataDir, env: { LATCHKEY_ACCESS_TOKEN_TTL: '60m' } })
    await registerUser(before, 'ada@example.com')
    await registerUser(before, 'bob@example.com')
    const ada = await login(before, 'ada@example.com')
    const bob = await login(before, 'bob@example.com')
    const adaExp = claimsOf(ada.accessToken).exp as number
    const bobExp = claimsOf(bob.accessToken).exp as number
    const { database, clock } = before
    await before.close()

    // Restarted on the same data with a shorter lifetime; the 60-minute tokens are still out there.
    const after = await buildTestApp(t, {
      dialect,
      dataDir,
      database,
      clock,
      env: { LATCHKEY_ACCESS_TOKEN_TTL: '5m' },
    })
    clock.advance(1000)
    const logout = await after.app.inject({ method: 'POST', url: '/auth/logout', headers: browserHeaders(ada.cookie) })
    t.equal(logout.statusCode, 204)
    const all = await after.app.inject({
      method: 'POST',
      url: '/auth/logout-all',
      headers: { authorization: `Bearer ${bob.accessToken}` },
    })
    t.equal(all.statusCode, 204)
    const skew = after.config.clockSkewMs / 1000
    const adaSid = claimsOf(ada.accessToken).sid as string
    const bobSub = claimsOf(bob.accessToken).sub as string

    const feed = (await after.app.inject('/oauth/revocations')).json() as Feed
    const adaEntry = feed.sessions.find((s) => s.sid === adaSid)
    t.ok(adaEntry, 'the logged-out session is listed')
    t.ok(
      adaEntry!.until >= adaExp + skew,
      `regression: the entry lasted until ${adaEntry!.until}, the token until ${adaExp} (plus ${skew} s skew)`,
    )
    const bobEntry = feed.users.find((u) => u.sub === bobSub)
    t.ok(bobEntry && bobEntry.until >= bobExp + skew, 'a user cut-off lasts as long as the old tokens too')

    // Past the new lifetime, still inside the old one: the token is valid, so it stays listed,
    // and maintenance keeps the session row the entry is read from.
    clock.advance(30 * 60_000)
    await runMaintenance(after.deps)
    clock.advance(2000)
    const later = (await after.app.inject('/oauth/revocations')).json() as Feed
    t.ok(
      later.sessions.some((s) => s.sid === adaSid),
      'regression: the jti/sid dropped off while the token was valid',
    )
    t.ok(
      later.users.some((u) => u.sub === bobSub),
      'the user cut-off stays too',
    )

    // Once the old tokens have expired, the entries go.
    clock.advance(35 * 60_000)
    await runMaintenance(after.deps)
    clock.advance(2000)
    const done = (await after.app.inject('/oauth/revocations')).json() as Feed
    t.same(
      done.sessions.filter((s) => s.sid === adaSid),
      [],
      'the entry drops out after the old lifetime',
    )
  })
}
