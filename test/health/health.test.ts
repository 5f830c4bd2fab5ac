import t from 'tap'
import { buildTestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'

for (const dialect of testDialects()) {
  t.test(`health on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })

    t.test('/healthz answers while the process lives', async (t) => {
      const res = await testApp.app.inject('/healthz')
      t.equal(res.statusCode, 200)
      t.same(res.json(), { status: 'ok' })
    })

    t.test('/readyz checks the database and the active key', async (t) => {
      const res = await testApp.app.inject('/readyz')
      t.equal(res.statusCode, 200)
      t.same(res.json(), { status: 'ready', checks: { database: 'ok', keys: 'ok' } })
    })

    t.test('/readyz says 503 when the database is gone', async (t) => {
      const broken = await buildTestApp(t, { dialect })
      await broken.deps.db.destroy()
      const res = await broken.app.inject('/readyz')
      t.equal(res.statusCode, 503)
      t.same(res.json(), { status: 'not ready', checks: { database: 'unavailable', keys: 'ok' } })
    })
  })
}

t.test('/readyz checks Redis too when REDIS_URL is set', async (t) => {
  const up = await buildTestApp(t, { env: { REDIS_URL: 'redis://127.0.0.1:6379' } })
  const ready = await up.app.inject('/readyz')
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready', checks: { database: 'ok', keys: 'ok', redis: 'ok' } })

  // Port 9 (discard) refuses: Redis is configured but unreachable.
  const down = await buildTestApp(t, { env: { REDIS_URL: 'redis://127.0.0.1:9' } })
  const notReady = await down.app.inject('/readyz')
  t.equal(notReady.statusCode, 503)
  t.same(notReady.json(), { status: 'not ready', checks: { database: 'ok', keys: 'ok', redis: 'unavailable' } })
  t.equal((await down.app.inject('/healthz')).statusCode, 200, '/healthz does not depend on Redis')
})

t.test('security headers are on every response, errors included', async (t) => {
  const { app } = await buildTestApp(t)
  for (const url of ['/healthz', '/.well-known/jwks.json', '/nope']) {
    const res = await app.inject(url)
    t.match(
      res.headers,
      {
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'SAMEORIGIN',
        'referrer-policy': 'no-referrer',
        'strict-transport-security': 'max-age=31536000; includeSubDomains',
        'content-security-policy': "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'self'",
      },
      url,
    )
  }
})

t.test('responses are not cacheable unless a route says so', async (t) => {
  const { app } = await buildTestApp(t)
  t.equal((await app.inject('/healthz')).headers['cache-control'], 'no-store')
})

t.test('an unknown route gets the common error shape', async (t) => {
  const { app } = await buildTestApp(t)
  const res = await app.inject('/nope?token=secret')
  t.equal(res.statusCode, 404)
  t.same(res.json(), { error: 'not_found', error_description: 'no route for GET /nope' })
})

t.test('malformed requests are 4xx, never 500', async (t) => {
  const { app } = await buildTestApp(t)
  const cases = [
    {
      method: 'POST' as const,
      url: '/oauth/token',
      headers: { 'content-type': 'application/json' },
      payload: '{"grant_type":',
    },
    {
      method: 'POST' as const,
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: '%%%&&&=',
    },
    {
      method: 'POST' as const,
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + 'A'.repeat(5000) },
      payload: 'grant_type=client_credentials',
    },
    {
      method: 'POST' as const,
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `grant_type=client_credentials&client_id=${'x'.repeat(500)}&client_secret=y`,
    },
    {
      method: 'POST' as const,
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'grant_type=client_credentials&client_id=%00&client_secret=%00',
    },
    {
      method: 'POST' as const,
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'grant_type=client_credentials&__proto__=x&client_id=a&client_secret=b',
    },
    { method: 'GET' as const, url: '/.well-known/jwks.json', headers: { 'if-none-match': '*'.repeat(1000) } },
  ]
  for (const c of cases) {
    const res = await app.inject(c)
    t.ok(
      res.statusCode >= 200 && res.statusCode < 500,
      `${c.method} ${c.url} ${c.payload?.slice(0, 30) ?? ''} → ${res.statusCode}`,
    )
    if (res.statusCode >= 400) t.same(Object.keys(res.json()).sort(), ['error', 'error_description'])
  }
})

t.test('requests refused before routing get the common error shape', async (t) => {
  const { app } = await buildTestApp(t)
  const badUrl = await app.inject('/oauth/%E0%A4%A')
  t.equal(badUrl.statusCode, 400)
  t.same(badUrl.json(), { error: 'invalid_request', error_description: 'the request is malformed' })
  t.equal(badUrl.headers['cache-control'], 'no-store')
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const huge = await fetch(`${address}/healthz`, { headers: { 'x-filler': 'a'.repeat(20_000) } })
  t.equal(huge.status, 431)
  t.same(await huge.json(), { error: 'invalid_request', error_description: 'the request is malformed' })
})
