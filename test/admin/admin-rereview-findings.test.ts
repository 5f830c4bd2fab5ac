import t from 'tap'
import { randomUUID } from 'node:crypto'
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose'
import { sql } from 'kysely'
import { buildTestApp, registerClient, type TestApp } from '../helpers/build-test-app.js'
import { basicOf, clientCredentialsToken, createAdminClient, introspect } from '../helpers/admin.js'
import { createClient } from '../../server/clients/create-client.js'
import { testDialects } from '../helpers/test-database.js'
import { login, nextClientIp, registerUser } from '../helpers/users.js'
import { tokensValidFrom } from '../../server/clients/client-lookup.js'

// Regressions for the re-review of the admin fixes: each t.test names what broke.

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const JUST_REPLACED = {
  error: 'temporarily_unavailable',
  error_description: "this client's credentials were just replaced; tokens are issued again shortly",
}

function clientCredentials(testApp: TestApp, auth: { basic: string } | { assertion: string }) {
  return testApp.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...('basic' in auth ? { authorization: auth.basic } : {}),
    },
    payload: new URLSearchParams({
      grant_type: 'client_credentials',
      ...('assertion' in auth ? { client_assertion_type: ASSERTION_TYPE, client_assertion: auth.assertion } : {}),
    }).toString(),
  })
}

async function keyPair(kid: string): Promise<{ privateKey: CryptoKey; publicJwk: JWK; kid: string }> {
  const pair = await generateKeyPair('ES256', { extractable: true })
  return { privateKey: pair.privateKey, publicJwk: { ...(await exportJWK(pair.publicKey)), kid }, kid }
}

function assertionOf(testApp: TestApp, clientId: string, key: { privateKey: CryptoKey; kid: string }) {
  const now = Math.floor(testApp.clock.now() / 1000)
  return new SignJWT({
    iss: clientId,
    sub: clientId,
    aud: testApp.config.issuer,
    jti: randomUUID(),
    iat: now,
    exp: now + 60,
  })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid })
    .sign(key.privateKey)
}

for (const dialect of testDialects()) {
  t.test(`admin re-review findings on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const admin = await createAdminClient(testApp)
    const introspector = await registerClient(testApp, {
      introspection: true,
      audiences: ['https://api.example.com', testApp.config.issuer],
    })
    const call = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
      testApp.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${await clientCredentialsToken(testApp, admin.basic)}` },
        remoteAddress: nextClientIp(),
        ...(payload ? { payload } : {}),
      })

    t.test('after rotation with revoke_old the token endpoint answers 503 until its tokens count', async (t) => {
      const target = await registerClient(testApp, { name: 'svc' })
      // Off the whole second, so the window's end rounds up.
      testApp.clock.advance(1_500 - (testApp.clock.now() % 1_000))
      const rotatedAt = testApp.clock.now()
      const rotated = await call('POST', `/admin/clients/${target.id}/secret`, { revoke_old: true })
      t.equal(rotated.statusCode, 200, rotated.body)
      const fresh = basicOf(target.id, rotated.json().client_secret as string)
      const validFrom = tokensValidFrom(rotatedAt)
      t.equal(validFrom, rotatedAt + 5_500)

      testApp.clock.advance(2_000)
      const early = await clientCredentials(testApp, { basic: fresh })
      t.equal(early.statusCode, 503)
      t.same(early.json(), JUST_REPLACED)
      t.equal(early.headers['retry-after'], '4')
      t.equal(early.headers['cache-control'], 'no-store')

      testApp.clock.set(validFrom - 1)
      const last = await clientCredentials(testApp, { basic: fresh })
      t.equal(last.statusCode, 503)
      t.equal(last.headers['retry-after'], '1', 'at least a second')

      testApp.clock.advance(1)
      const token = await clientCredentialsToken(testApp, fresh)
      t.same((await introspect(testApp, introspector, token)).json<{ active: boolean }>().active, true)
      testApp.clock.advance(60_000)
      t.same((await introspect(testApp, introspector, token)).json<{ active: boolean }>().active, true)
    })

    t.test('an admin client that rotates its own secret with revoke_old gets back in after retrying', async (t) => {
      const self = await createAdminClient(testApp, 'self-rotating ops')
      const rotated = await testApp.app.inject({
        method: 'POST',
        url: `/admin/clients/${self.id}/secret`,
        headers: { authorization: `Bearer ${await clientCredentialsToken(testApp, self.basic)}` },
        remoteAddress: nextClientIp(),
        payload: { revoke_old: true },
      })
      t.equal(rotated.statusCode, 200, rotated.body)
      const fresh = basicOf(self.id, rotated.json().client_secret as string)
      const refused = await clientCredentials(testApp, { basic: fresh })
      t.equal(refused.statusCode, 503)
      t.same(refused.json(), JUST_REPLACED)
      testApp.clock.advance(Number(refused.headers['retry-after'] ?? 0) * 1_000)
      const token = await clientCredentialsToken(testApp, fresh)
      const list = await testApp.app.inject({
        url: '/admin/clients?limit=1',
        headers: { authorization: `Bearer ${token}` },
      })
      t.equal(list.statusCode, 200, list.body)
      testApp.clock.advance(300_000)
      const later = await testApp.app.inject({
        url: '/admin/clients?limit=1',
        headers: { authorization: `Bearer ${token}` },
      })
      t.equal(later.statusCode, 200, later.body)
    })

    t.test('PATCH with new keys and revoke_old voids what the old key obtained', async (t) => {
      const leaked = await keyPair('k1')
      const { client } = await createClient(testApp.deps, {
        name: 'key client',
        type: 'confidential',
        grantTypes: ['client_credentials'],
        scopes: ['notes:read'],
        audiences: ['https://api.example.com'],
        redirectUris: [],
        jwks: { keys: [leaked.publicJwk] },
      })
      const stolen = await clientCredentials(testApp, { assertion: await assertionOf(testApp, client.id, leaked) })
      t.equal(stolen.statusCode, 200, stolen.body)
      const stolenToken = stolen.json<{ access_token: string }>().access_token
      testApp.clock.advance(1_000)

      const replacement = await keyPair('k2')
      const patched = await call('PATCH', `/admin/clients/${client.id}`, {
        jwks: { keys: [replacement.publicJwk] },
        revoke_old: true,
      })
      t.equal(patched.statusCode, 200, patched.body)
      t.same((await introspect(testApp, introspector, stolenToken)).json(), { active: false })
      const early = await clientCredentials(testApp, { assertion: await assertionOf(testApp, client.id, replacement) })
      t.equal(early.statusCode, 503)
      t.same(early.json(), JUST_REPLACED)
      testApp.clock.advance(Number(early.headers['retry-after'] ?? 0) * 1_000)
      const good = await clientCredentials(testApp, { assertion: await assertionOf(testApp, client.id, replacement) })
      t.equal(good.statusCode, 200, good.body)
      t.equal((await introspect(testApp, introspector, good.json().access_token as string)).json().active, true)

      const trail = (await call('GET', '/admin/audit?type=client.updated')).json<{
        items: Array<{ details: Record<string, unknown> }>
      }>()
      t.match(trail.items.find((e) => e.details.target_client_id === client.id)?.details, {
        changed: 'jwks',
        revoke_old: true,
        sessions_revoked: 0,
      })
    })

    t.test('revoke_old in a PATCH needs new keys', async (t) => {
      const target = await registerClient(testApp)
      const res = await call('PATCH', `/admin/clients/${target.id}`, { name: 'renamed', revoke_old: true })
      t.equal(res.statusCode, 400)
      t.same(res.json(), {
        error: 'invalid_request',
        error_description: 'revoke_old needs new keys (jwks or jwks_uri) in the same change',
      })
      t.equal((await call('GET', `/admin/clients/${target.id}`)).json().name, 'test client', 'unchanged')
    })

    t.test('a secret client switched to keys stops taking its secret on this instance at once', async (t) => {
      const keys = await keyPair('k3')
      const kept = await registerClient(testApp, { name: 'secret to keys' })
      const keptToken = await clientCredentialsToken(testApp, kept.basic)
      const voided = await registerClient(testApp, { name: 'secret to keys, revoke_old' })
      const voidedToken = await clientCredentialsToken(testApp, voided.basic)
      t.equal((await call('PATCH', `/admin/clients/${kept.id}`, { jwks: { keys: [keys.publicJwk] } })).statusCode, 200)
      const patched = await call('PATCH', `/admin/clients/${voided.id}`, {
        jwks: { keys: [keys.publicJwk] },
        revoke_old: true,
      })
      t.equal(patched.statusCode, 200)
      for (const old of [kept, voided]) {
        const res = await clientCredentials(testApp, { basic: old.basic })
        t.equal(res.statusCode, 401)
        t.same(res.json(), { error: 'invalid_client', error_description: 'client authentication failed' })
      }
      // Without revoke_old the secret's tokens live out their lifetime (docs/operations.md).
      t.equal((await introspect(testApp, introspector, keptToken)).json().active, true)
      t.same((await introspect(testApp, introspector, voidedToken)).json(), { active: false })
    })

    t.test('erasure forgets the addresses in the user’s audit events', async (t) => {
      await registerUser(testApp, 'erase-ip@example.com')
      await login(testApp, 'erase-ip@example.com')
      const user = (await call('GET', '/admin/users?email=erase-ip@example.com')).json<{
        items: Array<{ id: string }>
      }>().items[0]!
      const withIp = () =>
        testApp.deps.db
          .selectFrom('audit_events')
          .select('id')
          .where('user_id', '=', user.id)
          .where('ip', 'is not', null)
          .where('event', '!=', 'user.deleted')
          .execute()
      t.ok((await withIp()).length > 0, 'the sign-in was recorded with its address')
      t.equal((await call('DELETE', `/admin/users/${user.id}`)).statusCode, 200)
      t.same(await withIp(), [])
    })

    t.test('a user’s audit events are paged by an index on (user_id, created_at, id)', async (t) => {
      const columns =
        dialect === 'sqlite'
          ? (
              await sql<{
                name: string
              }>`select name from pragma_index_info('audit_events_user_id_created_at_id')`.execute(testApp.deps.db)
            ).rows.map((r) => r.name)
          : ((
              await sql<{
                indexdef: string
              }>`select indexdef from pg_indexes where indexname = 'audit_events_user_id_created_at_id'`.execute(
                testApp.deps.db,
              )
            ).rows.map((r) => /\((.*)\)/.exec(r.indexdef)![1]!.split(', '))[0] ?? [])
      t.same(columns, ['user_id', 'created_at', 'id'])
    })
  })
}
