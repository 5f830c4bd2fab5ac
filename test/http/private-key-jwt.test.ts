import t from 'tap'
import { createHmac, randomUUID } from 'node:crypto'
import {
  SignJWT,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { startJwksServer } from '../helpers/jwks-server.js'
import { testDialects } from '../helpers/test-database.js'
import { ClientRegistrationError, createClient, updateClient } from '../../server/clients/create-client.js'
import { findClientById } from '../../server/clients/client.store.js'

// What private_key_jwt refuses (RFC 7523 §3, RFC 8725), each over HTTP against the real app, and
// always with the same invalid_client answer: the client never learns which check failed.

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const REFUSED = {
  error: 'invalid_client',
  error_description:
    'client authentication failed: the client assertion is invalid, expired, already used or not signed by a registered key',
}

const registration = {
  type: 'confidential' as const,
  grantTypes: ['client_credentials'],
  scopes: ['reports:read'],
  audiences: ['https://api.example.com'],
  redirectUris: [],
}

interface KeyClient {
  id: string
  privateKey: CryptoKey
  publicJwk: JWK
  kid: string
}

async function keyClient(testApp: TestApp, keys: 'inline' | { jwksUri: string }, kid = 'k1'): Promise<KeyClient> {
  const pair = await generateKeyPair('ES256', { extractable: true })
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid }
  const { client } = await createClient(testApp.deps, {
    name: 'key client',
    ...registration,
    ...(keys === 'inline' ? { jwks: { keys: [publicJwk] } } : keys),
  })
  return { id: client.id, privateKey: pair.privateKey, publicJwk, kid }
}

/** A well-formed assertion for the client; `claims` and `header` override what they name. */
function assertion(
  testApp: TestApp,
  client: KeyClient,
  claims: JWTPayload = {},
  header: Record<string, unknown> = {},
  key: CryptoKey = client.privateKey,
): Promise<string> {
  const now = Math.floor(testApp.clock.now() / 1000)
  return new SignJWT({
    iss: client.id,
    sub: client.id,
    aud: testApp.config.issuer,
    jti: randomUUID(),
    iat: now,
    exp: now + 60,
    ...claims,
  })
    .setProtectedHeader({ alg: 'ES256', kid: client.kid, ...header })
    .sign(key)
}

function tokenRequest(testApp: TestApp, jwt: string, extra: Record<string, string> = {}) {
  return testApp.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: jwt,
      ...extra,
    }).toString(),
  })
}

/** A JWT "signed" by hand, for algorithms no library would sign with here (none, HS256). */
function handMade(header: object, payload: object, sign: (input: string) => string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const input = `${part(header)}.${part(payload)}`
  return `${input}.${sign(input)}`
}

for (const dialect of testDialects()) {
  t.test(`private_key_jwt on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_RATE_LIMITS: 'false' } })
    const client = await keyClient(testApp, 'inline')

    const refused = async (t: Tap, jwt: string, message: string, extra: Record<string, string> = {}) => {
      const res = await tokenRequest(testApp, jwt, extra)
      t.equal(res.statusCode, 401, message)
      t.same(res.json(), REFUSED, `${message}: the generic answer`)
      t.equal(res.headers['cache-control'], 'no-store', `${message}: no-store`)
    }

    t.test('a fresh assertion works once; its replay is refused', async (t) => {
      const jwt = await assertion(testApp, client)
      const first = await tokenRequest(testApp, jwt, { client_id: client.id })
      t.equal(first.statusCode, 200, first.body)
      t.equal(first.headers['cache-control'], 'no-store')
      await refused(t, jwt, 'the same jti again')
    })

    t.test('exp: expired, or further ahead than 5 minutes', async (t) => {
      const now = Math.floor(testApp.clock.now() / 1000)
      await refused(t, await assertion(testApp, client, { iat: now - 120, exp: now - 60 }), 'expired')
      await refused(t, await assertion(testApp, client, { exp: now + 600 }), 'exp 10 minutes ahead')
      const atLimit = await tokenRequest(testApp, await assertion(testApp, client, { exp: now + 300 }))
      t.equal(atLimit.statusCode, 200, 'exactly 5 minutes ahead is accepted')
    })

    t.test('aud: the issuer or the token endpoint, and nothing else', async (t) => {
      const issuer = testApp.config.issuer
      for (const aud of [issuer, `${issuer}/oauth/token`, [issuer]]) {
        const res = await tokenRequest(testApp, await assertion(testApp, client, { aud }))
        t.equal(res.statusCode, 200, `aud ${JSON.stringify(aud)}`)
      }
      for (const aud of [
        'https://elsewhere.example.com',
        `${issuer}/oauth/revoke`,
        `${issuer}/oauth/introspect`,
        [issuer, 'https://elsewhere.example.com'],
      ])
        await refused(t, await assertion(testApp, client, { aud }), `aud ${JSON.stringify(aud)}`)
      await refused(
        t,
        await assertion(testApp, client, { aud: `${issuer}/oauth/token` }, { typ: 'client-authentication+jwt' }),
        'an explicitly typed assertion (rfc7523bis) must name the issuer',
      )
      await refused(t, await assertion(testApp, client, {}, { typ: 'at+jwt' }), 'an access token type')
    })

    t.test('iss and sub must both be the client', async (t) => {
      await refused(t, await assertion(testApp, client, { iss: 'someone-else' }), 'another iss')
      const other = await keyClient(testApp, 'inline')
      await refused(t, await assertion(testApp, client, { sub: other.id }), 'sub names a client whose key did not sign')
    })

    t.test('a key the client did not register', async (t) => {
      const stranger = await generateKeyPair('ES256')
      await refused(t, await assertion(testApp, client, {}, {}, stranger.privateKey), 'same kid, another key')
      await refused(t, await assertion(testApp, client, {}, { kid: 'k2' }), 'an unknown kid')
    })

    t.test('alg none, and HS256 keyed with the public key', async (t) => {
      const now = Math.floor(testApp.clock.now() / 1000)
      const claims = { iss: client.id, sub: client.id, aud: testApp.config.issuer, jti: randomUUID(), exp: now + 60 }
      await refused(
        t,
        handMade({ alg: 'none' }, claims, () => ''),
        'alg none',
      )
      for (const secret of [JSON.stringify(client.publicJwk), await exportSPKI(await publicKeyOf(client))]) {
        const hs = handMade({ alg: 'HS256', kid: client.kid }, { ...claims, jti: randomUUID() }, (input) =>
          createHmac('sha256', secret).update(input).digest('base64url'),
        )
        await refused(t, hs, 'HS256 with the public key as the secret')
      }
    })

    t.test('malformed requests say what is wrong with the request', async (t) => {
      const jwt = await assertion(testApp, client)
      const wrongType = await tokenRequest(testApp, jwt, { client_assertion_type: 'urn:example:saml' })
      t.equal(wrongType.statusCode, 401)
      t.equal(wrongType.json().error, 'invalid_client')
      const notJwt = await tokenRequest(testApp, 'not-a-jwt')
      t.same(notJwt.json(), {
        error: 'invalid_client',
        error_description: 'the client assertion is not a JWT whose sub is a client_id',
      })
      const mismatch = await tokenRequest(testApp, jwt, { client_id: 'another-client' })
      t.same(mismatch.json(), {
        error: 'invalid_request',
        error_description: 'client_id does not match the client assertion',
      })
      const twoMethods = await testApp.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${client.id}:x`).toString('base64')}`,
        },
        payload: new URLSearchParams({
          grant_type: 'client_credentials',
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: jwt,
        }).toString(),
      })
      t.same(twoMethods.json(), {
        error: 'invalid_request',
        error_description: 'use only one client authentication method',
      })
    })

    t.test('a secret client cannot authenticate with an assertion', async (t) => {
      const { client: secretClient } = await createClient(testApp.deps, { name: 'secret', ...registration })
      await refused(t, await assertion(testApp, { ...client, id: secretClient.id }), 'no registered keys')
    })

    t.test('a jti is single use across instances sharing the database', async (t) => {
      const second = await buildTestApp(t, {
        dialect,
        database: testApp.database,
        dataDir: testApp.dataDir,
        clock: testApp.clock,
        env: { LATCHKEY_RATE_LIMITS: 'false' },
      })
      const jwt = await assertion(testApp, client)
      t.equal((await tokenRequest(testApp, jwt)).statusCode, 200)
      const replay = await tokenRequest(second, jwt)
      t.equal(replay.statusCode, 401, 'the other instance refuses the replay')
    })

    t.test('a jti is single use across instances sharing Redis', async (t) => {
      const withRedis = () =>
        buildTestApp(t, {
          dialect,
          database: testApp.database,
          dataDir: testApp.dataDir,
          clock: testApp.clock,
          env: { LATCHKEY_RATE_LIMITS: 'false', REDIS_URL: 'redis://127.0.0.1:6379' },
        })
      const [first, second] = [await withRedis(), await withRedis()]
      const stored = async () =>
        Number(
          (
            await testApp.deps.db
              .selectFrom('client_assertion_jtis')
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        )
      const before = await stored()
      const jwt = await assertion(testApp, client)
      t.equal((await tokenRequest(first, jwt)).statusCode, 200)
      t.equal(await stored(), before, 'the jti went to Redis, not the database')
      t.equal((await tokenRequest(second, jwt)).statusCode, 401, 'the other instance refuses the replay')
      t.equal((await tokenRequest(first, jwt)).statusCode, 401, 'and so does the first')
    })

    t.test('a fractional exp works, in the database and in Redis (regression: a 500)', async (t) => {
      const exp = Math.floor(testApp.clock.now() / 1000) + 60.1234
      const jwt = await assertion(testApp, client, { exp })
      t.equal((await tokenRequest(testApp, jwt)).statusCode, 200)
      await refused(t, jwt, 'its replay')
      const withRedis = await buildTestApp(t, {
        dialect,
        database: testApp.database,
        dataDir: testApp.dataDir,
        clock: testApp.clock,
        env: { LATCHKEY_RATE_LIMITS: 'false', REDIS_URL: 'redis://127.0.0.1:6379' },
      })
      const res = await tokenRequest(withRedis, await assertion(testApp, client, { exp }))
      t.equal(res.statusCode, 200, res.body)
    })

    t.test('a kty named after an Object member is refused at registration and skipped in a fetched set', async (t) => {
      for (const kty of ['constructor', '__proto__', 'toString']) {
        const bad = JSON.parse(`{"kty":${JSON.stringify(kty)},"kid":"x"}`) as JWK
        await t.rejects(
          createClient(testApp.deps, { name: 'bad', ...registration, jwks: { keys: [bad] } }),
          new ClientRegistrationError(''),
          kty,
        )
      }
      const jwks = await startJwksServer(t, [])
      const remote = await keyClient(testApp, { jwksUri: jwks.url }, 'p1')
      jwks.publish([{ kty: 'constructor', kid: 'bad' }, remote.publicJwk])
      const res = await tokenRequest(testApp, await assertion(testApp, remote))
      t.equal(res.statusCode, 200, 'the good key of the set still works')
    })

    t.test('an inline key registered with an alg keeps to it', async (t) => {
      const pair = await generateKeyPair('RS256', { extractable: true })
      const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'rsa', alg: 'RS256' }
      const { client: created } = await createClient(testApp.deps, {
        name: 'rsa client',
        ...registration,
        jwks: { keys: [publicJwk] },
      })
      const rsa = { id: created.id, privateKey: pair.privateKey, publicJwk, kid: 'rsa' }
      t.equal((await tokenRequest(testApp, await assertion(testApp, rsa, {}, { alg: 'RS256' }))).statusCode, 200)
      const asPss = (await importJWK(await exportJWK(pair.privateKey), 'PS256')) as CryptoKey
      await refused(t, await assertion(testApp, rsa, {}, { alg: 'PS256' }, asPss), 'PS256 with an RS256 key')
    })

    t.test('an unknown-kid flood costs the jwks_uri one fetch per cooldown', async (t) => {
      const jwks = await startJwksServer(t, [])
      const remote = await keyClient(testApp, { jwksUri: jwks.url }, 'r1')
      jwks.publish([remote.publicJwk])
      const ok = await tokenRequest(testApp, await assertion(testApp, remote))
      t.equal(ok.statusCode, 200, ok.body)
      t.equal(jwks.fetches(), 1, 'loaded once')
      for (let i = 0; i < 50; i++)
        await refused(t, await assertion(testApp, remote, {}, { kid: randomUUID() }), 'a made-up kid')
      t.ok(jwks.fetches() <= 2, `50 unknown kids: ${jwks.fetches()} fetches (at most one refetch)`)

      // The client rotates: its new key is found after the cooldown, with one fetch.
      const rotated = await generateKeyPair('ES256', { extractable: true })
      jwks.publish([remote.publicJwk, { ...(await exportJWK(rotated.publicKey)), kid: 'r2' }])
      testApp.clock.advance(31_000)
      const before = jwks.fetches()
      const withNewKey = await tokenRequest(
        testApp,
        await assertion(testApp, remote, {}, { kid: 'r2' }, rotated.privateKey),
      )
      t.equal(withNewKey.statusCode, 200, 'the new key works after the cooldown')
      t.equal(jwks.fetches(), before + 1)
    })

    t.test('a fetched set unrefreshable for 24 h is dropped; 404 is an empty set', async (t) => {
      const jwks = await startJwksServer(t, [])
      const remote = await keyClient(testApp, { jwksUri: jwks.url }, 's1')
      jwks.publish([remote.publicJwk])
      t.equal((await tokenRequest(testApp, await assertion(testApp, remote))).statusCode, 200)
      jwks.answer(500)
      testApp.clock.advance(23 * 3_600_000)
      const stale = await tokenRequest(testApp, await assertion(testApp, remote))
      t.equal(stale.statusCode, 200, 'within 24 h a stale set keeps serving while the server is down')
      testApp.clock.advance(2 * 3_600_000)
      await refused(t, await assertion(testApp, remote), 'past 24 h without a successful fetch')

      jwks.answer(200)
      testApp.clock.advance(31_000)
      t.equal((await tokenRequest(testApp, await assertion(testApp, remote))).statusCode, 200, 'back')
      jwks.answer(404)
      testApp.clock.advance(301_000)
      // A known kid is served from the stale set while the refresh runs; an unknown one waits for it.
      t.equal((await tokenRequest(testApp, await assertion(testApp, remote))).statusCode, 200)
      await refused(t, await assertion(testApp, remote, {}, { kid: 'unknown' }), 'an unknown kid')
      await refused(t, await assertion(testApp, remote), 'after a 404 the set is empty')
    })

    t.test('an operator update starts the fetched set afresh', async (t) => {
      const jwks = await startJwksServer(t, [])
      const remote = await keyClient(testApp, { jwksUri: jwks.url }, 'u1')
      jwks.publish([remote.publicJwk])
      t.equal((await tokenRequest(testApp, await assertion(testApp, remote))).statusCode, 200)
      const fetched = jwks.fetches()
      const stored = await findClientById(testApp.deps.db, remote.id)
      testApp.clock.advance(1_000)
      await updateClient(testApp.deps, stored!, { name: 'renamed' }, { mayGrantAdminScope: false })
      testApp.clock.advance(6_000) // past the per-instance client cache
      t.equal((await tokenRequest(testApp, await assertion(testApp, remote))).statusCode, 200)
      t.equal(jwks.fetches(), fetched + 1, 'fetched again after the update')
    })

    t.test('a rotated key is found at once when the cached set is stale', async (t) => {
      const jwks = await startJwksServer(t, [])
      const remote = await keyClient(testApp, { jwksUri: jwks.url }, 'o1')
      jwks.publish([remote.publicJwk])
      t.equal((await tokenRequest(testApp, await assertion(testApp, remote))).statusCode, 200)
      const rotated = await generateKeyPair('ES256', { extractable: true })
      jwks.publish([remote.publicJwk, { ...(await exportJWK(rotated.publicKey)), kid: 'o2' }])
      testApp.clock.advance(301_000)
      const res = await tokenRequest(testApp, await assertion(testApp, remote, {}, { kid: 'o2' }, rotated.privateKey))
      t.equal(res.statusCode, 200, res.body)
    })

    t.test('the admin API registers and switches key clients', async (t) => {
      const { client: admin, secret } = await createClient(
        testApp.deps,
        { name: 'ops', ...registration, scopes: ['latchkey:admin'], audiences: [testApp.config.issuer] },
        { mayGrantAdminScope: true },
      )
      const tokenRes = await testApp.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: {
          authorization: `Basic ${Buffer.from(`${admin.id}:${secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        payload: 'grant_type=client_credentials',
      })
      const headers = { authorization: `Bearer ${tokenRes.json().access_token as string}` }
      const body = { name: 'signer', grant_types: ['client_credentials'], scope: 'reports:read' }
      const created = await testApp.app.inject({
        method: 'POST',
        url: '/admin/clients',
        headers,
        payload: { ...body, jwks: { keys: [client.publicJwk] } },
      })
      t.equal(created.statusCode, 201, created.body)
      t.match(created.json(), {
        token_endpoint_auth_method: 'private_key_jwt',
        jwks_uri: null,
        jwks: { keys: [{ kid: 'k1' }] },
      })
      t.notOk('client_secret' in created.json(), 'no secret')
      const id = created.json().client_id as string
      const patched = await testApp.app.inject({
        method: 'PATCH',
        url: `/admin/clients/${id}`,
        headers,
        payload: { jwks_uri: 'https://keys.example.com/jwks.json' },
      })
      t.equal(patched.statusCode, 200, patched.body)
      t.match(patched.json(), {
        token_endpoint_auth_method: 'private_key_jwt',
        jwks_uri: 'https://keys.example.com/jwks.json',
        jwks: null,
      })
      const secretClient = await testApp.app.inject({ method: 'POST', url: '/admin/clients', headers, payload: body })
      t.equal(secretClient.json().token_endpoint_auth_method, 'client_secret_basic')
      const pair = await generateKeyPair('ES256', { extractable: true })
      const withPrivate = await testApp.app.inject({
        method: 'POST',
        url: '/admin/clients',
        headers,
        payload: { ...body, jwks: { keys: [await exportJWK(pair.privateKey)] } },
      })
      t.equal(withPrivate.statusCode, 400)
      t.same(withPrivate.json(), {
        error: 'invalid_client_metadata',
        error_description: 'the JWKS key 1 holds private or symmetric key material: register only the public key',
      })
      t.notOk(withPrivate.body.includes(String((await exportJWK(pair.privateKey)).d)), 'the private key is not echoed')
    })

    t.test('registration refuses what cannot be a client key set', async (t) => {
      const pair = await generateKeyPair('ES256', { extractable: true })
      const privateJwk = await exportJWK(pair.privateKey)
      const cases: Array<[string, object, RegExp]> = [
        ['private key material', { jwks: { keys: [privateJwk] } }, /private or symmetric key material/],
        ['a symmetric key', { jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, /private or symmetric/],
        ['cleartext jwks_uri off loopback', { jwksUri: 'http://keys.example.com/jwks' }, /must use https/],
        ['both', { jwksUri: 'https://keys.example.com/jwks', jwks: { keys: [] } }, /not both/],
        ['a public client', { type: 'public', jwksUri: 'https://keys.example.com/jwks' }, /public client/],
      ]
      for (const [what, change, message] of cases) {
        await t.rejects(
          createClient(testApp.deps, { name: 'bad', ...registration, ...change }),
          new ClientRegistrationError(''),
          what,
        )
        await createClient(testApp.deps, { name: 'bad', ...registration, ...change }).catch((error: Error) =>
          t.match(error.message, message, what),
        )
      }
    })
  })
}

/** The assertions a subtest makes here. */
interface Tap {
  equal(found: unknown, wanted: unknown, message: string): unknown
  same(found: unknown, wanted: unknown, message: string): unknown
}

async function publicKeyOf(client: KeyClient): Promise<CryptoKey> {
  const { importJWK } = await import('jose')
  return (await importJWK(client.publicJwk, 'ES256')) as CryptoKey
}
