import { keysDb } from '../../server/db/database.js'
import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose'
import { buildTestApp, registerClient, type TestApp } from '../helpers/build-test-app.js'
import { provisionDatabase, testDialects } from '../helpers/test-database.js'
import { findAllKeys } from '../../keys/signing-key.store.js'
import { WrongKekError } from '../../keys/private-key-encryption.js'

const DAY = 86_400_000
const repoRoot = path.resolve(import.meta.dirname, '../..')

async function getToken(testApp: TestApp, basic: string): Promise<string> {
  const res = await testApp.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
    payload: 'grant_type=client_credentials',
  })
  return res.json().access_token as string
}

async function getJwks(testApp: TestApp): Promise<JSONWebKeySet> {
  return (await testApp.app.inject('/.well-known/jwks.json')).json() as JSONWebKeySet
}

function runInstance(env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/key-instance.ts'], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`instance exited ${code}: ${err}`))))
  })
}

t.test('the JWKS', async (t) => {
  for (const alg of ['ES256', 'RS256', 'PS256', 'EdDSA']) {
    t.test(`${alg}: public members only, unique kids that are RFC 7638 thumbprints, use sig`, async (t) => {
      const testApp = await buildTestApp(t, { env: { LATCHKEY_SIGNING_ALG: alg } })
      const jwks = await getJwks(testApp)
      t.equal(jwks.keys.length, 2)
      const allowed: Record<string, string[]> = {
        ES256: ['crv', 'x', 'y'],
        RS256: ['n', 'e'],
        PS256: ['n', 'e'],
        EdDSA: ['crv', 'x'],
      }
      for (const key of jwks.keys) {
        t.same(Object.keys(key).sort(), ['alg', 'kid', 'kty', 'use', ...allowed[alg]!].sort())
        for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) t.notOk(secret in key, `no ${secret}`)
        t.equal(key.alg, alg)
        t.equal(key.use, 'sig')
        if (key.kty === 'RSA') t.ok(Buffer.from(key.n!, 'base64url').length >= 256, 'RSA modulus of at least 2048 bits')
        const { calculateJwkThumbprint } = await import('jose')
        t.equal(key.kid, await calculateJwkThumbprint(key, 'sha256'))
      }
      t.equal(new Set(jwks.keys.map((k) => k.kid)).size, jwks.keys.length, 'kids are unique')
      const client = await registerClient(testApp)
      const token = await getToken(testApp, client.basic)
      t.equal(decodeProtectedHeader(token).alg, alg)
      const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
        issuer: testApp.config.issuer,
        typ: 'at+jwt',
        algorithms: [alg],
      })
      t.equal(payload.client_id, client.id)
    })
  }

  t.test('answers 304 to a matching If-None-Match and a new ETag after rotation', async (t) => {
    const testApp = await buildTestApp(t)
    const first = await testApp.app.inject('/.well-known/jwks.json')
    const etag = first.headers.etag as string
    t.match(etag, /^"[A-Za-z0-9_-]+"$/)
    const cached = await testApp.app.inject({ url: '/.well-known/jwks.json', headers: { 'if-none-match': etag } })
    t.equal(cached.statusCode, 304)
    t.equal(cached.body, '')
    t.equal(cached.headers.etag, etag)
    t.equal(cached.headers['cache-control'], 'public, max-age=300')
    testApp.clock.advance(30 * DAY)
    await testApp.deps.keystore.tick()
    const changed = await testApp.app.inject({ url: '/.well-known/jwks.json', headers: { 'if-none-match': etag } })
    t.equal(changed.statusCode, 200)
    t.not(changed.headers.etag, etag)
  })

  t.test('private keys are encrypted at rest', async (t) => {
    const testApp = await buildTestApp(t)
    for (const key of await findAllKeys(keysDb(testApp.deps.db))) {
      const jwe = key.private_jwk_encrypted!
      t.equal(jwe.split('.').length, 5, 'a compact JWE')
      const header = JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString())
      t.same(header, { alg: 'dir', enc: 'A256GCM', kid: key.kid, cty: 'jwk+json' })
      t.notOk(jwe.includes('"d"'))
    }
    const kekFile = path.join(testApp.dataDir, 'kek')
    t.equal(fs.statSync(kekFile).mode & 0o777, 0o600, 'the generated KEK file is private to its owner')
  })
})

for (const dialect of testDialects()) {
  t.test(`restart and several instances on ${dialect}`, async (t) => {
    t.test("a second app on the same data verifies the first one's tokens and keeps its keys", async (t) => {
      const dataDir = t.testdir()
      const database = await provisionDatabase(t, dialect, dataDir)
      const first = await buildTestApp(t, { dialect, dataDir, database })
      const client = await registerClient(first)
      const token = await getToken(first, client.basic)
      const keysBefore = await findAllKeys(keysDb(first.deps.db))
      await first.close()

      const second = await buildTestApp(t, { dialect, dataDir, database })
      t.same(await findAllKeys(keysDb(second.deps.db)), keysBefore, 'no key was generated or changed')
      const { payload } = await jwtVerify(token, createLocalJWKSet(await getJwks(second)), {
        issuer: second.config.issuer,
        typ: 'at+jwt',
      })
      t.equal(payload.sub, client.id)
      const again = await getToken(second, client.basic)
      t.equal(decodeProtectedHeader(again).kid, decodeProtectedHeader(token).kid, 'the same active key keeps signing')
    })

    t.test('several instances reaching the rotation at once perform it once', async (t) => {
      const database = await provisionDatabase(t, dialect)
      const kek = randomBytes(32).toString('base64url')
      const start = Date.now()
      const env = { TEST_INSTANCE_DATABASE: JSON.stringify(database), TEST_INSTANCE_KEK: kek }
      await runInstance({ ...env, TEST_INSTANCE_TIME: String(start) })
      const results = await Promise.all(
        [1, 2, 3].map(() => runInstance({ ...env, TEST_INSTANCE_TIME: String(start + 30 * DAY) })),
      )
      const activeKids = results.map((out) => JSON.parse(out).activeKid)
      t.equal(new Set(activeKids).size, 1, 'every instance signs with the same new key')

      const app = await buildTestApp(t, { dialect, database, env: { LATCHKEY_KEK: kek } })
      const states = (await findAllKeys(keysDb(app.deps.db))).map((k) => k.state).sort()
      t.same(states, ['active', 'next', 'retired'], 'one retirement, one activation, one new next key: not three')
      t.equal(app.deps.keystore.activeKid(), activeKids[0])
    })

    t.test('a running instance picks up a rotation made elsewhere on its next tick', async (t) => {
      const kek = randomBytes(32).toString('base64url')
      const app = await buildTestApp(t, { dialect, env: { LATCHKEY_KEK: kek } })
      const before = app.deps.keystore.activeKid()
      await runInstance({
        TEST_INSTANCE_DATABASE: JSON.stringify(app.database),
        TEST_INSTANCE_KEK: kek,
        TEST_INSTANCE_TIME: String(app.clock.now() + 30 * DAY),
      })
      t.equal(app.deps.keystore.activeKid(), before, 'unchanged until it ticks')
      await app.deps.keystore.tick()
      t.not(app.deps.keystore.activeKid(), before)
      t.equal((await getJwks(app)).keys.length, 3, 'the retired, active and new next key are all published')
    })

    t.test('a wrong KEK stops startup with a clear message and overwrites nothing', async (t) => {
      const dataDir = t.testdir()
      const database = await provisionDatabase(t, dialect, dataDir)
      const first = await buildTestApp(t, {
        dialect,
        dataDir,
        database,
        env: { LATCHKEY_KEK: randomBytes(32).toString('base64') },
      })
      const keysBefore = await findAllKeys(keysDb(first.deps.db))
      await first.close()

      const later = { ...first.clock, now: () => first.clock.now() + 60 * DAY, advance() {}, set() {} }
      await t.rejects(
        buildTestApp(t, {
          dialect,
          dataDir,
          database,
          clock: later,
          env: { LATCHKEY_KEK: randomBytes(32).toString('hex') },
        }),
        new WrongKekError(keysBefore[0]!.kid),
      )
      t.notOk(fs.existsSync(path.join(dataDir, 'kek')), 'no KEK file was generated')
      const { createDb } = await import('../../server/db/create-db.js')
      const db = createDb(database)
      t.same(
        await findAllKeys(keysDb(db)),
        keysBefore,
        'even 60 days later, when a rotation was due, no key row changed',
      )
      await db.destroy()
    })
  })
}
