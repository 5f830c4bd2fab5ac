import { randomInt } from 'node:crypto'
import t, { type Test } from 'tap'
import { buildTestApp, registerClient, type TestApp, type TestClient } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { DEVICE_CODE_GRANT, requestDeviceAuthorization } from '../helpers/device.js'
import { startOwnRedis } from '../helpers/own-services.js'

// Per-client and per-source limits on /oauth/token (issue 11, "no per-client limits on /oauth/token").
// The limiter counts in real time (@fastify/rate-limit), so each test stays within one window.

const form = 'application/x-www-form-urlencoded'

function clientCredentials(testApp: TestApp, authorization: string, remoteAddress = '127.0.0.1') {
  return testApp.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': form, authorization },
    payload: 'grant_type=client_credentials',
    remoteAddress,
  })
}

const wrongSecret = (client: TestClient) =>
  `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:wrong-secret`).toString('base64')}`

/** A documentation address (RFC 5737) of its own, so Redis counters of earlier runs never meet it. */
const freshIp = () => `198.18.${randomInt(256)}.${randomInt(1, 255)}`

function assertRateLimited(t: Test, res: Awaited<ReturnType<typeof clientCredentials>>) {
  t.equal(res.statusCode, 429)
  t.equal(res.headers['cache-control'], 'no-store')
  t.match(res.headers['retry-after'], /^\d+$/)
  t.ok(Number(res.headers['retry-after']) >= 1 && Number(res.headers['retry-after']) <= 60, 'within the minute')
  t.same(res.json(), {
    error: 'rate_limited',
    error_description: `too many requests, retry after ${res.headers['retry-after'] as string} seconds`,
  })
}

for (const dialect of testDialects()) {
  t.test(`an invalid_client flood from one source is refused after its budget on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_TOKEN_FAILURE_RATE_LIMIT: '3' } })
    const client = await registerClient(testApp)
    const flood = '198.51.100.66'
    for (let i = 0; i < 3; i++) t.equal((await clientCredentials(testApp, wrongSecret(client), flood)).statusCode, 401)
    const refused = await clientCredentials(testApp, wrongSecret(client), flood)
    assertRateLimited(t, refused)
    assertRateLimited(t, await clientCredentials(testApp, client.basic, flood))
    t.equal(
      (await clientCredentials(testApp, client.basic, '203.0.113.7')).statusCode,
      200,
      'another source is not held back',
    )
  })

  t.test(`every route that authenticates clients shares one budget of failures per source on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_TOKEN_FAILURE_RATE_LIMIT: '3' } })
    const service = await registerClient(testApp, { name: 'notes API', introspection: true })
    const tv = await registerClient(testApp, {
      name: 'TV',
      type: 'public',
      grantTypes: [DEVICE_CODE_GRANT],
      scopes: ['notes:read'],
      audiences: ['https://notes.example'],
    })
    const post = (url: string, authorization: string | null, payload: string, remoteAddress: string) =>
      testApp.app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': form, ...(authorization === null ? {} : { authorization }) },
        payload,
        remoteAddress,
      })
    const introspect = (authorization: string, source: string) =>
      post('/oauth/introspect', authorization, 'token=not-a-token', source)
    const revoke = (authorization: string, source: string) =>
      post('/oauth/revoke', authorization, 'token=not-a-token', source)
    const deviceAuthorization = (source: string) =>
      post('/oauth/device_authorization', null, `client_id=${encodeURIComponent(tv.id)}`, source)

    const refusedAtToken = '198.51.100.70'
    for (let i = 0; i < 3; i++)
      t.equal((await clientCredentials(testApp, wrongSecret(service), refusedAtToken)).statusCode, 401)
    assertRateLimited(t, await introspect(service.basic, refusedAtToken))
    assertRateLimited(t, await revoke(service.basic, refusedAtToken))
    assertRateLimited(t, await deviceAuthorization(refusedAtToken))

    const failingElsewhere = '198.51.100.71'
    t.equal((await introspect(wrongSecret(service), failingElsewhere)).statusCode, 401)
    t.equal((await introspect(wrongSecret(service), failingElsewhere)).statusCode, 401)
    t.equal((await revoke(wrongSecret(service), failingElsewhere)).statusCode, 401)
    assertRateLimited(t, await clientCredentials(testApp, service.basic, failingElsewhere))
    assertRateLimited(t, await introspect(service.basic, failingElsewhere))

    const elsewhere = '203.0.113.7'
    const answered = await introspect(service.basic, elsewhere)
    t.equal(answered.statusCode, 200, 'another source is not held back')
    t.same(answered.json(), { active: false })
    t.equal((await revoke(service.basic, elsewhere)).statusCode, 200)
    t.equal((await deviceAuthorization(elsewhere)).statusCode, 200)
  })

  t.test(`a client's successful requests are counted against its own budget on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_TOKEN_RATE_LIMIT: '3' } })
    const busy = await registerClient(testApp, { name: 'busy' })
    const other = await registerClient(testApp, { name: 'other' })
    for (let i = 0; i < 3; i++) t.equal((await clientCredentials(testApp, busy.basic)).statusCode, 200)
    assertRateLimited(t, await clientCredentials(testApp, busy.basic))
    t.equal(
      (await clientCredentials(testApp, busy.basic, '203.0.113.7')).statusCode,
      429,
      'a confidential client has one budget wherever it asks from',
    )
    t.equal((await clientCredentials(testApp, other.basic)).statusCode, 200, "another client's budget is its own")
    t.equal(
      (await clientCredentials(testApp, wrongSecret(other))).statusCode,
      401,
      'failed authentications spend no client budget',
    )
  })

  t.test(`device polls are paced by slow_down, not by the client budget, on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_TOKEN_RATE_LIMIT: '2' } })
    const tv = await registerClient(testApp, {
      name: 'TV',
      type: 'public',
      grantTypes: [DEVICE_CODE_GRANT],
      scopes: ['notes:read'],
      audiences: ['https://notes.example'],
    })
    const started = (await requestDeviceAuthorization(testApp, tv)).json<{ device_code: string; interval: number }>()
    const errors: string[] = []
    for (let i = 0; i < 4; i++) {
      const res = await testApp.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': form },
        payload: new URLSearchParams({
          grant_type: DEVICE_CODE_GRANT,
          device_code: started.device_code,
          client_id: tv.id,
        }).toString(),
      })
      t.equal(res.statusCode, 400)
      errors.push(res.json<{ error: string }>().error)
      testApp.clock.advance(started.interval * 1000)
    }
    t.same(errors, ['authorization_pending', 'authorization_pending', 'authorization_pending', 'authorization_pending'])
  })

  t.test(`the default budgets let a busy confidential client through on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    t.same(testApp.config.tokenRateLimits, { perClient: 6_000, failuresPerIp: 300 })
    const busy = await registerClient(testApp)
    const statuses = new Set<number>()
    for (let i = 0; i < 150; i++) statuses.add((await clientCredentials(testApp, busy.basic)).statusCode)
    t.same([...statuses], [200])
  })
}

t.test('with Redis the budgets hold across instances', async (t) => {
  const env = { REDIS_URL: 'redis://127.0.0.1:6379', LATCHKEY_TOKEN_FAILURE_RATE_LIMIT: '2' }
  const first = await buildTestApp(t, { env })
  const second = await buildTestApp(t, { env, database: first.database, dataDir: first.dataDir })
  const client = await registerClient(first)
  const source = freshIp()
  t.equal((await clientCredentials(first, wrongSecret(client), source)).statusCode, 401)
  t.equal((await clientCredentials(second, wrongSecret(client), source)).statusCode, 401)
  assertRateLimited(t, await clientCredentials(first, client.basic, source))
  assertRateLimited(t, await clientCredentials(second, client.basic, source))
})

t.test('with Redis down the budgets let requests through, counted and logged at most once a minute', async (t) => {
  const redis = await startOwnRedis(t)
  const logLines: string[] = []
  const testApp = await buildTestApp(t, {
    env: { REDIS_URL: redis.url, LATCHKEY_TOKEN_RATE_LIMIT: '2', LATCHKEY_TOKEN_FAILURE_RATE_LIMIT: '2' },
    logLines,
  })
  const client = await registerClient(testApp)
  const source = freshIp()
  const storeErrors = async () => {
    const res = await testApp.app.inject({ url: '/metrics', remoteAddress: '127.0.0.1' })
    const line = res.body.split('\n').find((l) => l.startsWith('latchkey_rate_limit_store_errors_total '))
    return Number(line?.split(' ')[1])
  }
  const warnings = () =>
    logLines
      .map((l) => JSON.parse(l) as { event?: string; failures?: number })
      .filter((l) => l.event === 'rate_limit.store_error')

  t.equal((await clientCredentials(testApp, client.basic, source)).statusCode, 200)
  t.equal((await clientCredentials(testApp, client.basic, source)).statusCode, 200)
  assertRateLimited(t, await clientCredentials(testApp, client.basic, source))
  t.equal(await storeErrors(), 0)

  await redis.stop()
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) statuses.push((await clientCredentials(testApp, client.basic, source)).statusCode)
  t.same(statuses, [200, 200, 200], 'fail-open: the budgets are not applied while the store is down')
  // Each request reads the source's failures and counts the client's budget: two failed counts.
  t.equal(await storeErrors(), 6, 'every failed count is counted')
  t.same(
    warnings().map((w) => w.failures),
    [1],
    'one warning for the first failure, none for the next ones within the minute',
  )

  testApp.clock.advance(60_000)
  t.equal((await clientCredentials(testApp, client.basic, source)).statusCode, 200)
  t.same(
    warnings().map((w) => w.failures),
    [1, 6],
    'a minute later one more warning, with the failures since the last one',
  )
  t.notMatch(logLines.join('\n'), client.secret, 'no secret in the log')
})
