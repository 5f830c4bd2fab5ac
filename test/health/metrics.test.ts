import t from 'tap'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { buildTestApp, registerClient, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { browserHeaders, login, nextClientIp, registerUser, sessionCookieOf } from '../helpers/users.js'

const METRICS_TOKEN = 'metrics-token-for-tests-0123456789abcdef'

async function scrape(testApp: TestApp) {
  const res = await testApp.app.inject('/metrics')
  if (res.statusCode !== 200) throw new Error(`scrape failed: ${res.statusCode} ${res.body}`)
  return { text: res.body, families: parsePrometheusTextFormat(res.body), headers: res.headers }
}

type Families = ReturnType<typeof parsePrometheusTextFormat>

/** The value of one counter or gauge series, found by its labels. */
function valueOf(families: Families, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.find((f) => f.name === name)
  const sample = family?.metrics.find((m) => Object.entries(labels).every(([key, value]) => m.labels?.[key] === value))
  return sample?.value === undefined ? undefined : Number(sample.value)
}

async function refresh(testApp: TestApp, cookie: string) {
  return testApp.app.inject({
    method: 'POST',
    url: '/auth/refresh',
    headers: browserHeaders(cookie),
    remoteAddress: nextClientIp(),
  })
}

for (const dialect of testDialects()) {
  t.test(`metrics on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })

    t.test('a scrape after real traffic shows every family, parsed by a Prometheus text parser', async (t) => {
      const client = await registerClient(testApp)
      const token = await testApp.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { authorization: client.basic, 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'grant_type=client_credentials',
      })
      t.equal(token.statusCode, 200)
      await registerUser(testApp, 'metrics@example.com')
      const bad = await testApp.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: 'metrics@example.com', password: 'not the right password at all' },
        remoteAddress: nextClientIp(),
      })
      t.equal(bad.statusCode, 401)
      const session = await login(testApp, 'metrics@example.com')
      const rotated = await refresh(testApp, session.cookie)
      t.equal(rotated.statusCode, 200)
      // The same old cookie again within the grace window: the same successor (a second tab).
      t.equal((await refresh(testApp, session.cookie)).statusCode, 200)
      // And again after the grace window: reuse, the session is revoked.
      testApp.clock.advance(testApp.config.refreshReuseGraceMs + 1_000)
      t.equal((await refresh(testApp, session.cookie)).statusCode, 401)
      t.equal((await refresh(testApp, sessionCookieOf(rotated.headers['set-cookie']))).statusCode, 401)
      t.equal((await testApp.app.inject('/oauth/revocations')).statusCode, 200)
      testApp.clock.advance(30_000)

      const { text, families, headers } = await scrape(testApp)
      t.match(headers['content-type'], /^text\/plain; version=0\.0\.4/)
      t.equal(headers['cache-control'], 'no-store')

      const typeOf = (name: string) => families.find((f) => f.name === name)?.type
      const expectedTypes: Record<string, string> = {
        latchkey_http_request_duration_seconds: 'HISTOGRAM',
        latchkey_tokens_issued_total: 'COUNTER',
        latchkey_refresh_total: 'COUNTER',
        latchkey_login_total: 'COUNTER',
        latchkey_password_hashing_queue: 'GAUGE',
        latchkey_password_hashing_wait_seconds: 'HISTOGRAM',
        latchkey_password_hashing_rejected_total: 'COUNTER',
        latchkey_mail_outbox_pending: 'GAUGE',
        latchkey_mail_outbox_oldest_pending_age_seconds: 'GAUGE',
        latchkey_mail_deliveries_total: 'COUNTER',
        latchkey_revocation_feed_entries: 'GAUGE',
        latchkey_revocation_feed_snapshot_bytes: 'GAUGE',
        latchkey_revocation_feed_last_read_timestamp_seconds: 'GAUGE',
        latchkey_signing_key_age_seconds: 'GAUGE',
        latchkey_signing_key_next_rotation_timestamp_seconds: 'GAUGE',
        latchkey_db_query_duration_seconds: 'HISTOGRAM',
        latchkey_retention_purged_rows_total: 'COUNTER',
        latchkey_maintenance_duration_seconds: 'HISTOGRAM',
        nodejs_eventloop_lag_seconds: 'GAUGE',
        process_cpu_user_seconds_total: 'COUNTER',
        process_resident_memory_bytes: 'GAUGE',
        ...(dialect === 'postgres' ? { latchkey_db_pool_connections: 'GAUGE' } : {}),
      }
      t.same(
        Object.fromEntries(Object.keys(expectedTypes).map((name) => [name, typeOf(name)])),
        expectedTypes,
        'each family with its type',
      )

      t.equal(valueOf(families, 'latchkey_tokens_issued_total', { grant: 'client_credentials' }), 1)
      t.equal(valueOf(families, 'latchkey_tokens_issued_total', { grant: 'password_login' }), 1)
      t.equal(valueOf(families, 'latchkey_tokens_issued_total', { grant: 'session_refresh' }), 2)
      t.same(
        Object.fromEntries(
          ['rotated', 'grace_replay', 'reuse_detected', 'invalid'].map((outcome) => [
            outcome,
            valueOf(families, 'latchkey_refresh_total', { outcome }),
          ]),
        ),
        { rotated: 1, grace_replay: 1, reuse_detected: 1, invalid: 1 },
      )
      t.same(
        Object.fromEntries(
          ['success', 'bad_credentials', 'throttled', 'busy', 'second_factor_needed'].map((outcome) => [
            outcome,
            valueOf(families, 'latchkey_login_total', { outcome }),
          ]),
        ),
        { success: 1, bad_credentials: 1, throttled: 0, busy: 0, second_factor_needed: 0 },
      )
      t.equal(valueOf(families, 'latchkey_password_hashing_queue', { state: 'queued' }), 0)
      t.ok(valueOf(families, 'latchkey_password_hashing_queue', { state: 'concurrency' })! >= 1)
      // Registration queued the verification mail; no worker runs in tests, so it waits.
      t.equal(valueOf(families, 'latchkey_mail_outbox_pending'), 1)
      t.ok(valueOf(families, 'latchkey_mail_outbox_oldest_pending_age_seconds')! >= 30)
      t.equal(valueOf(families, 'latchkey_revocation_feed_entries', { kind: 'sessions' }), 1, 'the reused family')
      t.ok(valueOf(families, 'latchkey_revocation_feed_snapshot_bytes')! > 0)
      const activeAge = valueOf(families, 'latchkey_signing_key_age_seconds', { state: 'active' })
      t.ok(activeAge !== undefined && activeAge >= 30, 'the active key has aged with the clock')
      const nextRotation = valueOf(families, 'latchkey_signing_key_next_rotation_timestamp_seconds')!
      const expected = (testApp.clock.now() - activeAge! * 1000 + testApp.config.keyRotationIntervalMs) / 1000
      t.ok(Math.abs(nextRotation - expected) < 2, 'next rotation is one interval after activation')
      // The parser folds labelled histograms together, so their labelled series are checked as lines.
      t.match(
        text,
        /^latchkey_http_request_duration_seconds_count\{method="POST",route="\/oauth\/token",status_class="2xx"\} 1$/m,
      )
      t.match(
        text,
        /^latchkey_http_request_duration_seconds_count\{method="POST",route="\/auth\/login",status_class="4xx"\} 1$/m,
      )
      t.match(text, /^latchkey_db_query_duration_seconds_count\{kind="select",result="ok"\} [1-9]\d*$/m)
      t.notMatch(text, /metrics@example\.com|refresh_token=|__Host-latchkey_session/, 'no personal data or secret')
    })

    t.test('without LATCHKEY_METRICS_TOKEN only loopback clients may scrape', async (t) => {
      const remote = await testApp.app.inject({ url: '/metrics', remoteAddress: '203.0.113.9' })
      t.equal(remote.statusCode, 403)
      t.same(remote.json(), {
        error: 'access_denied',
        error_description: 'metrics are served to loopback clients only; set LATCHKEY_METRICS_TOKEN',
      })
      const forwarded = await testApp.app.inject({ url: '/metrics', headers: { 'x-forwarded-for': '203.0.113.9' } })
      t.equal(forwarded.statusCode, 403, 'a request forwarded by a local proxy is not a loopback client')
    })
  })
}

t.test('with LATCHKEY_METRICS_TOKEN the bearer token is required, from anywhere', async (t) => {
  const testApp = await buildTestApp(t, { env: { LATCHKEY_METRICS_TOKEN: METRICS_TOKEN } })
  const challenge = { error: 'invalid_token', error_description: 'a valid metrics token is required' }
  for (const authorization of [
    undefined,
    `Bearer ${METRICS_TOKEN}x`,
    `Bearer ${METRICS_TOKEN.slice(1)}`,
    'Basic abc',
  ]) {
    const res = await testApp.app.inject({
      url: '/metrics',
      headers: authorization ? { authorization } : {},
    })
    t.equal(res.statusCode, 401, `refused: ${authorization ?? 'no header'}`)
    t.same(res.json(), challenge)
    t.match(res.headers['www-authenticate'], /^Bearer /)
  }
  const ok = await testApp.app.inject({
    url: '/metrics',
    headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    remoteAddress: '203.0.113.9',
  })
  t.equal(ok.statusCode, 200)
  t.ok(parsePrometheusTextFormat(ok.body).some((f) => f.name === 'latchkey_tokens_issued_total'))
})

t.test('a bad LATCHKEY_METRICS_TOKEN stops startup naming the variable, not echoing it', async (t) => {
  await t.rejects(buildTestApp(t, { env: { LATCHKEY_METRICS_TOKEN: 'short' } }), {
    message: /LATCHKEY_METRICS_TOKEN must be 32 to 512 printable characters/,
  })
})
