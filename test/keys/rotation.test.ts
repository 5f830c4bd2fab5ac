import { keysDb } from '../../server/db/database.js'
import t from 'tap'
import { decodeProtectedHeader } from 'jose'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, registerClient, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { findAllKeys } from '../../keys/signing-key.store.js'

const MINUTE = 60_000
const DAY = 86_400_000

async function jwksKids(app: FastifyInstance): Promise<string[]> {
  const res = await app.inject('/.well-known/jwks.json')
  return (res.json().keys as { kid: string }[]).map((k) => k.kid)
}

async function issueToken(testApp: TestApp, basic: string): Promise<{ kid: string; exp: number }> {
  const res = await testApp.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
    payload: 'grant_type=client_credentials',
  })
  if (res.statusCode !== 200) throw new Error(`token request failed: ${res.body}`)
  const token = res.json().access_token as string
  return { kid: decodeProtectedHeader(token).kid!, exp: testApp.clock.now() + res.json().expires_in * 1000 }
}

async function statesByKid(testApp: TestApp): Promise<Record<string, string>> {
  return Object.fromEntries((await findAllKeys(keysDb(testApp.deps.db))).map((k) => [k.kid, k.state]))
}

for (const dialect of testDialects()) {
  t.test(`key rotation on ${dialect}`, async (t) => {
    t.test('pre-publication, takeover, retirement and removal happen at the right moments', async (t) => {
      const testApp = await buildTestApp(t, { dialect })
      const { app, clock, deps } = testApp
      const client = await registerClient(testApp)
      const ttl = testApp.config.accessTokenTtlMs
      const skew = testApp.config.clockSkewMs

      const [first, second] = await jwksKids(app)
      t.same(
        await statesByKid(testApp),
        { [first!]: 'active', [second!]: 'next' },
        'first start: an active key and a published next key',
      )
      t.equal((await issueToken(testApp, client.basic)).kid, first)

      clock.advance(30 * DAY - 1000)
      await deps.keystore.tick()
      t.equal(
        (await issueToken(testApp, client.basic)).kid,
        first,
        'the active key signs until the interval has passed',
      )

      clock.advance(1000)
      await deps.keystore.tick()
      const afterRotation = await jwksKids(app)
      t.equal(afterRotation.length, 3)
      const third = afterRotation.find((k) => k !== first && k !== second)!
      t.same(await statesByKid(testApp), { [first!]: 'retired', [second!]: 'active', [third]: 'next' })
      t.equal(
        (await issueToken(testApp, client.basic)).kid,
        second,
        'the next key takes over, after a whole interval in the JWKS',
      )

      clock.advance(ttl + skew - 1000)
      await deps.keystore.tick()
      t.ok((await jwksKids(app)).includes(first!), 'the retired key stays while its tokens may be unexpired')

      clock.advance(1000)
      await deps.keystore.tick()
      t.same(await jwksKids(app), [second, third], 'and leaves the JWKS once they have all expired')
      t.same(await statesByKid(testApp), { [first!]: 'removed', [second!]: 'active', [third]: 'next' })
      const removed = (await findAllKeys(keysDb(deps.db))).find((k) => k.kid === first)!
      t.equal(removed.private_jwk_encrypted, null, 'a removed key loses its private half')
    })

    t.test('at no instant does the JWKS lack the key of an unexpired token', async (t) => {
      const testApp = await buildTestApp(t, { dialect })
      const client = await registerClient(testApp)
      const outstanding: { kid: string; exp: number }[] = []
      const start = testApp.clock.now()
      const end = start + 2 * 30 * DAY + 2 * DAY
      let checks = 0
      while (testApp.clock.now() < end) {
        await testApp.deps.keystore.tick()
        outstanding.push(await issueToken(testApp, client.basic))
        const published = await jwksKids(testApp.app)
        for (const token of outstanding) {
          if (token.exp > testApp.clock.now() && !published.includes(token.kid)) {
            t.fail(
              `token signed by ${token.kid} is unexpired at +${(testApp.clock.now() - start) / MINUTE} min but its key is not published`,
            )
          }
          checks++
        }
        outstanding.splice(0, outstanding.length, ...outstanding.filter((tok) => tok.exp > testApp.clock.now()))
        // Fine steps near each rotation and each retired key's removal, coarse ones in between.
        const sinceRotation = (testApp.clock.now() - start) % (30 * DAY)
        testApp.clock.advance(
          sinceRotation > 30 * DAY - 30 * MINUTE || sinceRotation < 30 * MINUTE ? 1 * MINUTE : 6 * 3600_000,
        )
      }
      const keys = await findAllKeys(keysDb(testApp.deps.db))
      t.equal(
        keys.filter((k) => k.state === 'removed').length,
        2,
        'two rotations happened and both retired keys were removed',
      )
      t.ok(checks > 100, `checked ${checks} token/instant pairs`)
    })

    t.test('the JWKS cache lifetime is shorter than the time a next key waits before signing', async (t) => {
      const testApp = await buildTestApp(t, { dialect })
      const res = await testApp.app.inject('/.well-known/jwks.json')
      const maxAge = Number(/max-age=(\d+)/.exec(res.headers['cache-control'] as string)![1]) * 1000
      t.equal(res.headers['cache-control'], 'public, max-age=300')
      const keys = await findAllKeys(keysDb(testApp.deps.db))
      const next = keys.find((k) => k.state === 'next')!
      // The next key may sign once the interval has passed since the active key's activation;
      // it was created at that activation, so it is published for a whole interval first.
      t.ok(testApp.config.keyRotationIntervalMs >= 10 * maxAge, 'lead is at least ten cache lifetimes')
      testApp.clock.advance(testApp.config.keyRotationIntervalMs)
      await testApp.deps.keystore.tick()
      t.equal(testApp.deps.keystore.activeKid(), next.kid)
      t.ok(
        testApp.clock.now() - next.created_at >= maxAge,
        'the key signing now was published more than one cache lifetime ago',
      )
    })

    t.test('a next key made just before takeover waits one cache lifetime before signing', async (t) => {
      const testApp = await buildTestApp(t, { dialect })
      const { deps, clock } = testApp
      const original = deps.keystore.activeKid()
      // Lose the waiting next key (as after an algorithm change) right before the rotation is due.
      clock.advance(30 * DAY - 1000)
      await deps.db.deleteFrom('signing_keys').where('state', '=', 'next').execute()
      await deps.keystore.tick()
      clock.advance(1000)
      await deps.keystore.tick()
      t.equal(deps.keystore.activeKid(), original, 'the fresh next key is not yet old enough to sign')
      clock.advance(testApp.config.jwksMaxAgeMs)
      await deps.keystore.tick()
      t.not(deps.keystore.activeKid(), original, 'it takes over once verifiers can have fetched it')
    })

    t.test("instances with different algorithms do not replace each other's next key on every tick", async (t) => {
      const es = await buildTestApp(t, { dialect })
      const ed = await buildTestApp(t, {
        dialect,
        database: es.database,
        dataDir: es.dataDir,
        env: { LATCHKEY_SIGNING_ALG: 'EdDSA' },
        clock: es.clock,
      })
      for (let i = 0; i < 12; i++) {
        es.clock.advance(5_000)
        await es.deps.keystore.tick()
        await ed.deps.keystore.tick()
      }
      const keys = await findAllKeys(keysDb(es.deps.db))
      t.ok(keys.length <= 3, `one replacement at most per cache lifetime (${keys.length} keys after a minute)`)
      es.clock.advance(30 * DAY)
      await es.deps.keystore.tick()
      await ed.deps.keystore.tick()
      t.ok(
        (await findAllKeys(keysDb(es.deps.db))).some((k) => k.state === 'retired'),
        'and rotation still happens',
      )
    })

    t.test('changing the signing algorithm replaces the waiting next key, which then takes over', async (t) => {
      const dataDir = t.testdir()
      const first = await buildTestApp(t, { dialect, dataDir })
      const database = first.database
      await first.close()
      const second = await buildTestApp(t, {
        dialect,
        dataDir,
        database,
        env: { LATCHKEY_SIGNING_ALG: 'EdDSA' },
        clock: first.clock,
      })
      t.same(
        (await findAllKeys(keysDb(second.deps.db))).map((k) => `${k.alg} ${k.state}`).sort(),
        ['ES256 active', 'ES256 next'],
        'a next key younger than a cache lifetime is kept',
      )
      second.clock.advance(second.config.jwksMaxAgeMs)
      await second.deps.keystore.tick()
      const keys = await findAllKeys(keysDb(second.deps.db))
      t.same(keys.map((k) => `${k.alg} ${k.state}`).sort(), ['ES256 active', 'ES256 removed', 'EdDSA next'])
      second.clock.advance(30 * DAY)
      await second.deps.keystore.tick()
      const client = await registerClient(second)
      const token = await second.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: client.basic },
        payload: 'grant_type=client_credentials',
      })
      t.equal(decodeProtectedHeader(token.json().access_token).alg, 'EdDSA')
    })
  })
}
