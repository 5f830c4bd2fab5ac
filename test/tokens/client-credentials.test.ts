import t from 'tap'
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { CLIENT_CACHE_TTL_MS } from '../../server/clients/client-lookup.js'

const form = 'application/x-www-form-urlencoded'
const noStore = { 'cache-control': 'no-store', pragma: 'no-cache' }
const claimsOf = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>

for (const dialect of testDialects()) {
  t.test(`client_credentials on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const { app } = testApp
    const client = await registerClient(testApp)

    const token = (payload: string, headers: Record<string, string> = {}) =>
      app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': form, authorization: client.basic, ...headers },
        payload,
      })

    t.test('a token verifies against the JWKS of a listening server with every RFC 9068 claim', async (t) => {
      const address = await app.listen({ port: 0, host: '127.0.0.1' })
      const res = await token('grant_type=client_credentials')
      t.equal(res.statusCode, 200)
      t.match(res.headers, noStore)
      const body = res.json()
      t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type'])
      t.equal(body.token_type, 'Bearer')
      t.equal(body.expires_in, 600)
      t.equal(body.scope, 'notes:read notes:write')

      const jwks = createRemoteJWKSet(new URL(`${address}/.well-known/jwks.json`))
      const { payload, protectedHeader } = await jwtVerify(body.access_token, jwks, {
        issuer: testApp.config.issuer,
        audience: 'https://api.example.com',
        typ: 'at+jwt',
        algorithms: ['ES256'],
      })
      t.same(Object.keys(protectedHeader).sort(), ['alg', 'kid', 'typ'])
      t.equal(protectedHeader.kid, testApp.deps.keystore.activeKid())
      t.same(Object.keys(payload).sort(), ['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub'])
      t.equal(payload.sub, client.id)
      t.equal(payload.client_id, client.id)
      t.equal(payload.exp! - payload.iat!, 600)
      t.equal(payload.iat, Math.floor(testApp.clock.now() / 1000))
      t.match(payload.jti, /^[0-9a-f-]{36}$/)
    })

    t.test('each token has its own jti', async (t) => {
      const [a, b] = await Promise.all([token('grant_type=client_credentials'), token('grant_type=client_credentials')])
      t.not(claimsOf(a.json().access_token).jti, claimsOf(b.json().access_token).jti)
    })

    t.test('client_secret_post authenticates the same client', async (t) => {
      const res = await app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': form },
        payload: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: client.id,
          client_secret: client.secret,
        }).toString(),
      })
      t.equal(res.statusCode, 200)
      t.equal(decodeProtectedHeader(res.json().access_token).typ, 'at+jwt')
    })

    t.test('a narrower scope and an allowed resource are honoured', async (t) => {
      const res = await token('grant_type=client_credentials&scope=notes:read&resource=https%3A%2F%2Fapi.example.com')
      t.equal(res.statusCode, 200)
      t.equal(res.json().scope, 'notes:read')
      t.equal(claimsOf(res.json().access_token).scope, 'notes:read')
    })

    t.test('empty parameters count as omitted (RFC 6749 §3.1)', async (t) => {
      const res = await token('grant_type=client_credentials&scope=&resource=&client_secret=')
      t.equal(res.statusCode, 200)
      t.equal(res.json().scope, 'notes:read notes:write')
    })

    t.test('a client without audiences or scopes gets the default audience and no scope', async (t) => {
      const bare = await registerClient(testApp, { audiences: [], scopes: [] })
      const res = await token('grant_type=client_credentials', { authorization: bare.basic })
      t.equal(res.statusCode, 200)
      t.notOk('scope' in res.json())
      const claims = claimsOf(res.json().access_token)
      t.equal(claims.aud, testApp.config.defaultAudience)
      t.notOk('scope' in claims)
    })

    const basicOf = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`
    const challenge = { 'www-authenticate': 'Basic realm="latchkey", charset="UTF-8"' }
    const errorCases: {
      name: string
      request: () => ReturnType<typeof token>
      status: number
      body: object
      headers?: object
    }[] = [
      {
        name: 'wrong secret',
        request: () => token('grant_type=client_credentials', { authorization: basicOf(client.id, 'nope') }),
        status: 401,
        body: { error: 'invalid_client', error_description: 'client authentication failed' },
        headers: challenge,
      },
      {
        name: 'unknown client',
        request: () => token('grant_type=client_credentials', { authorization: basicOf('ghost', 'secret') }),
        status: 401,
        body: { error: 'invalid_client', error_description: 'client authentication failed' },
        headers: challenge,
      },
      {
        name: 'malformed Basic header',
        request: () => token('grant_type=client_credentials', { authorization: 'Basic !!!' }),
        status: 401,
        body: {
          error: 'invalid_client',
          error_description: 'the Authorization header must use the Basic scheme with base64 credentials',
        },
        headers: challenge,
      },
      {
        name: 'Bearer instead of Basic',
        request: () => token('grant_type=client_credentials', { authorization: 'Bearer abc' }),
        status: 401,
        body: {
          error: 'invalid_client',
          error_description: 'the Authorization header must use the Basic scheme with base64 credentials',
        },
        headers: challenge,
      },
      {
        name: 'Basic without a colon',
        request: () =>
          token('grant_type=client_credentials', {
            authorization: `Basic ${Buffer.from('nocolon').toString('base64')}`,
          }),
        status: 401,
        body: { error: 'invalid_client', error_description: 'malformed Basic credentials' },
        headers: challenge,
      },
      {
        name: 'Basic with bad percent-encoding',
        request: () => token('grant_type=client_credentials', { authorization: basicOf('%E0%A4%A', 'x') }),
        status: 401,
        body: { error: 'invalid_client', error_description: 'malformed Basic credentials' },
        headers: challenge,
      },
      {
        name: 'no client authentication',
        request: () =>
          app.inject({
            method: 'POST',
            url: '/oauth/token',
            headers: { 'content-type': form },
            payload: 'grant_type=client_credentials',
          }),
        status: 401,
        body: { error: 'invalid_client', error_description: 'client authentication is required' },
        headers: challenge,
      },
      {
        name: 'wrong secret by client_secret_post',
        request: () =>
          app.inject({
            method: 'POST',
            url: '/oauth/token',
            headers: { 'content-type': form },
            payload: `grant_type=client_credentials&client_id=${client.id}&client_secret=wrong`,
          }),
        status: 401,
        body: { error: 'invalid_client', error_description: 'client authentication failed' },
        headers: challenge,
      },
      {
        name: 'a confidential client naming itself without a secret',
        request: () =>
          app.inject({
            method: 'POST',
            url: '/oauth/token',
            headers: { 'content-type': form },
            payload: `grant_type=client_credentials&client_id=${client.id}`,
          }),
        status: 401,
        body: { error: 'invalid_client', error_description: 'client authentication failed' },
        headers: challenge,
      },
      {
        name: 'two authentication methods at once',
        request: () => token(`grant_type=client_credentials&client_secret=${client.secret}`),
        status: 400,
        body: { error: 'invalid_request', error_description: 'use only one client authentication method' },
      },
      {
        name: 'client_id in the body differing from Basic',
        request: () => token('grant_type=client_credentials&client_id=someone-else'),
        status: 400,
        body: { error: 'invalid_request', error_description: 'client_id does not match the authenticated client' },
      },
      {
        name: 'unknown grant type',
        request: () => token('grant_type=password'),
        status: 400,
        body: { error: 'unsupported_grant_type', error_description: 'grant_type password is not supported' },
      },
      {
        name: 'grant type named like an object property',
        request: () => token('grant_type=constructor'),
        status: 400,
        body: { error: 'unsupported_grant_type', error_description: 'grant_type constructor is not supported' },
      },
      {
        name: 'missing grant_type',
        request: () => token('scope=notes:read'),
        status: 400,
        body: { error: 'invalid_request', error_description: 'grant_type is required' },
      },
      {
        name: 'empty body',
        request: () => token(''),
        status: 400,
        body: { error: 'invalid_request', error_description: 'grant_type is required' },
      },
      {
        name: 'empty grant_type',
        request: () => token('grant_type='),
        status: 400,
        body: { error: 'invalid_request', error_description: 'grant_type is required' },
      },
      {
        name: 'repeated parameter',
        request: () => token('grant_type=client_credentials&scope=notes:read&scope=notes:write'),
        status: 400,
        body: { error: 'invalid_request', error_description: 'parameter scope is repeated' },
      },
      {
        name: 'repeated grant_type',
        request: () => token('grant_type=client_credentials&grant_type=client_credentials'),
        status: 400,
        body: { error: 'invalid_request', error_description: 'parameter grant_type is repeated' },
      },
      {
        name: 'JSON body',
        request: () => token('{"grant_type":"client_credentials"}', { 'content-type': 'application/json' }),
        status: 400,
        body: { error: 'invalid_request', error_description: 'the body must be application/x-www-form-urlencoded' },
      },
      {
        name: 'text body',
        request: () => token('grant_type=client_credentials', { 'content-type': 'text/plain' }),
        status: 400,
        body: { error: 'invalid_request', error_description: 'the body must be application/x-www-form-urlencoded' },
      },
      {
        name: 'scope beyond the client',
        request: () => token('grant_type=client_credentials&scope=notes:read%20admin'),
        status: 400,
        body: { error: 'invalid_scope', error_description: 'scope not allowed for this client: admin' },
      },
      {
        name: 'malformed scope',
        request: () => token('grant_type=client_credentials&scope=notes:read%20%20notes:write'),
        status: 400,
        body: {
          error: 'invalid_scope',
          error_description: 'scope is malformed: scope tokens are separated by single spaces',
        },
      },
      {
        name: 'resource not allowed',
        request: () => token('grant_type=client_credentials&resource=https%3A%2F%2Fevil.example'),
        status: 400,
        body: { error: 'invalid_target', error_description: 'resource is not allowed for this client' },
      },
      {
        name: 'resource with a fragment',
        request: () => token('grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com%23x'),
        status: 400,
        body: { error: 'invalid_target', error_description: 'resource must be an absolute URI without a fragment' },
      },
      {
        name: 'two resources',
        request: () =>
          token(
            'grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com&resource=https%3A%2F%2Fapi.example.com',
          ),
        status: 400,
        body: { error: 'invalid_target', error_description: 'request one resource per token' },
      },
    ]
    for (const c of errorCases) {
      t.test(`${c.name} → ${c.status} ${(c.body as { error: string }).error}`, async (t) => {
        const res = await c.request()
        t.equal(res.statusCode, c.status)
        t.same(res.json(), c.body)
        t.match(res.headers, { ...noStore, 'content-type': 'application/json; charset=utf-8', ...c.headers })
        if (c.status !== 401) t.notOk(res.headers['www-authenticate'], 'no challenge outside 401')
      })
    }

    t.test('a client not allowed client_credentials → unauthorized_client', async (t) => {
      const other = await registerClient(testApp, { grantTypes: ['refresh_token'] })
      const res = await token('grant_type=client_credentials', { authorization: other.basic })
      t.equal(res.statusCode, 400)
      t.same(res.json(), {
        error: 'unauthorized_client',
        error_description: 'this client may not use the client_credentials grant',
      })
    })

    t.test('a deleted client can no longer get tokens once the client cache expires', async (t) => {
      const doomed = await registerClient(testApp)
      t.equal((await token('grant_type=client_credentials', { authorization: doomed.basic })).statusCode, 200)
      await testApp.deps.db.deleteFrom('clients').where('id', '=', doomed.id).execute()
      testApp.clock.advance(CLIENT_CACHE_TTL_MS)
      const res = await token('grant_type=client_credentials', { authorization: doomed.basic })
      t.equal(res.statusCode, 401)
      t.equal(res.json().error, 'invalid_client')
    })

    for (const method of ['GET', 'PUT', 'DELETE'] as const) {
      t.test(`${method} /oauth/token → 405`, async (t) => {
        const res = await app.inject({ method, url: '/oauth/token' })
        t.equal(res.statusCode, 405)
        t.equal(res.headers.allow, 'POST')
        t.same(res.json(), { error: 'invalid_request', error_description: 'this endpoint only accepts POST' })
        t.equal(res.headers['cache-control'], 'no-store')
      })
    }

    t.test('an oversized body is refused with 413, not a 500', async (t) => {
      const res = await token(`grant_type=client_credentials&x=${'a'.repeat(70_000)}`)
      t.equal(res.statusCode, 413)
      t.same(res.json(), { error: 'invalid_request', error_description: 'the request body is too large' })
    })

    t.test('the secret never appears in the log', async (t) => {
      const lines: string[] = []
      const logged = await buildTestApp(t, { dialect, logLines: lines })
      const c = await registerClient(logged)
      await logged.app.inject({
        method: 'POST',
        url: '/oauth/token?client_secret=x',
        headers: { 'content-type': form },
        payload: `grant_type=client_credentials&client_id=${c.id}&client_secret=${c.secret}`,
      })
      await logged.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': form, authorization: c.basic },
        payload: 'grant_type=client_credentials',
      })
      await logged.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: {
          'content-type': form,
          authorization: `Basic ${Buffer.from(`${c.id}:wrong-${c.secret}`).toString('base64')}`,
        },
        payload: 'grant_type=client_credentials',
      })
      const all = lines.join('\n')
      t.ok(all.includes('request completed'), 'requests are logged')
      t.notOk(all.includes(c.secret), 'secret not logged')
      t.notOk(all.includes(c.basic.slice(6)), 'basic credentials not logged')
      t.notOk(all.includes('client_secret=x'), 'query strings are not logged')
    })
  })
}
