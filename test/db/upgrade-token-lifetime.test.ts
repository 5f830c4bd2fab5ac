import t from 'tap'
import { buildTestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { login, registerUser } from '../helpers/users.js'
import { down, up } from '../../migrations/20261206190000_refresh_family_keys.js'

async function lifetimes(db: Parameters<typeof up>[0]) {
  const rows = await db.selectFrom('access_token_lifetimes').selectAll().orderBy('ttl_ms').execute()
  return rows.map((r) => ({ ttlMs: Number(r.ttl_ms), lastUsedAt: Number(r.last_used_at) }))
}

for (const dialect of testDialects()) {
  t.test(`upgrading a database with sessions covers the tokens minted before for a day on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const db = testApp.deps.db
    const ttlMs = testApp.config.accessTokenTtlMs
    t.same(await lifetimes(db), [{ ttlMs, lastUsedAt: testApp.clock.now() }], 'a fresh install: only its own lifetime')

    await registerUser(testApp, 'ada@example.com')
    await login(testApp, 'ada@example.com')
    // The upgrade, run again on a database that has sessions (and tokens out there).
    await down(db)
    const before = Date.now()
    await up(db)
    const after = Date.now()

    const rows = await lifetimes(db)
    t.equal(rows.length, 2)
    t.same(rows[0], { ttlMs, lastUsedAt: testApp.clock.now() })
    t.equal(rows[1]!.ttlMs, 86_400_000, 'regression: nothing covered the tokens minted before the upgrade')
    t.ok(rows[1]!.lastUsedAt >= before && rows[1]!.lastUsedAt <= after, 'as of the upgrade')

    await down(db)
    await up(db)
    t.equal((await lifetimes(db)).length, 2, 'run twice, still one such row')
  })
}
