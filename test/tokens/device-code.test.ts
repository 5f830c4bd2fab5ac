import t from 'tap'
import { buildTestApp, registerClient, type TestApp, type TestClient } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { CookieJar, browse, hiddenField, submit } from '../helpers/authorize.js'
import {
  DEVICE_CODE_GRANT,
  answerDeviceInBrowser,
  pollDeviceToken,
  requestDeviceAuthorization,
} from '../helpers/device.js'
import { PASSWORD, claimsOf, login, nextClientIp, registerUser } from '../helpers/users.js'
import { runMaintenance } from '../../server/maintenance.js'

const noStore = { 'cache-control': 'no-store', pragma: 'no-cache' }
const userCodeShape = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/

interface Started {
  device_code: string
  user_code: string
  verification_uri: string
  verification_uri_complete: string
  expires_in: number
  interval: number
}

async function start(testApp: TestApp, client: TestClient, fields: Record<string, string> = {}): Promise<Started> {
  const res = await requestDeviceAuthorization(testApp, client, fields)
  if (res.statusCode !== 200) throw new Error(`device authorization failed: ${res.statusCode} ${res.body}`)
  return res.json<Started>()
}

for (const dialect of testDialects()) {
  t.test(`device sign-in (RFC 8628) on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const { app, clock } = testApp
    await registerUser(testApp, 'ada@example.com', PASSWORD, 'Ada Lovelace')
    const tv = await registerClient(testApp, {
      name: 'Living-room TV',
      type: 'public',
      grantTypes: [DEVICE_CODE_GRANT, 'refresh_token'],
      scopes: ['openid', 'email', 'notes:read'],
      audiences: ['https://notes.example'],
    })
    const other = await registerClient(testApp, {
      name: 'Kitchen radio',
      type: 'public',
      grantTypes: [DEVICE_CODE_GRANT],
      scopes: ['notes:read'],
      audiences: ['https://notes.example'],
    })

    t.test('the metadata advertises the endpoint and the grant', async (t) => {
      const metadata = (await app.inject('/.well-known/openid-configuration')).json()
      t.equal(metadata.device_authorization_endpoint, `${testApp.config.issuer}/oauth/device_authorization`)
      t.ok(metadata.grant_types_supported.includes(DEVICE_CODE_GRANT))
      t.ok(metadata.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:token-exchange'))
    })

    t.test('the device authorization response has every RFC 8628 §3.2 member and no-store', async (t) => {
      const res = await requestDeviceAuthorization(testApp, tv, { scope: 'openid notes:read' })
      t.equal(res.statusCode, 200)
      t.match(res.headers, noStore)
      const body = res.json<Started>()
      t.same(Object.keys(body).sort(), [
        'device_code',
        'expires_in',
        'interval',
        'user_code',
        'verification_uri',
        'verification_uri_complete',
      ])
      t.match(body.user_code, userCodeShape)
      t.equal(body.verification_uri, `${testApp.config.issuer}/device`)
      t.equal(body.verification_uri_complete, `${testApp.config.issuer}/device?user_code=${body.user_code}`)
      t.equal(body.expires_in, 600)
      t.equal(body.interval, 5)
      t.ok(body.device_code.length >= 43, 'the device code carries 256 bits')

      const rows = await testApp.deps.db.selectFrom('device_authorizations').selectAll().execute()
      const stored = JSON.stringify(rows)
      t.notOk(stored.includes(body.device_code), 'the device code is stored only as a hash')
      t.notOk(stored.includes(body.user_code.replace('-', '')), 'the user code is stored only as a hash')
    })

    t.test('the user signs in through verification_uri_complete and allows; the device gets tokens once', async (t) => {
      const started = await start(testApp, tv, { scope: 'openid email notes:read' })
      const pending = await pollDeviceToken(testApp, tv, started.device_code)
      t.equal(pending.statusCode, 400)
      t.match(pending.headers, { 'cache-control': 'no-store' })
      t.same(pending.json(), {
        error: 'authorization_pending',
        error_description: 'the user has not yet approved or denied this sign-in',
      })

      const jar = new CookieJar()
      const first = await browse(testApp, jar, `/device?user_code=${started.user_code}`)
      t.equal(first.statusCode, 200)
      t.match(first.body, /<h1>Sign in<\/h1>/, 'not signed in: the hosted sign-in page')
      t.equal(hiddenField(first.body, 'device_user_code'), started.user_code)
      const signedIn = await submit(testApp, jar, '/signin', {
        csrf: hiddenField(first.body, 'csrf'),
        device_user_code: hiddenField(first.body, 'device_user_code'),
        email: 'ada@example.com',
        password: PASSWORD,
      })
      t.equal(signedIn.statusCode, 303)
      t.equal(signedIn.headers.location, `/device?user_code=${started.user_code}`, 'back to /device with the code')
      const entry = await browse(testApp, jar, String(signedIn.headers.location))
      t.match(entry.body, `value="${started.user_code}"`, 'the code is filled in')
      // Typed in lower case without the dash: the same code.
      const typed = started.user_code.replace('-', '').toLowerCase()
      const consent = await submit(testApp, jar, '/device', { csrf: hiddenField(entry.body, 'csrf'), user_code: typed })
      t.equal(consent.statusCode, 200)
      t.match(consent.body, 'Allow Living-room TV on your device?')
      t.match(consent.body, 'Signed in as <strong>ada@example.com</strong>')
      t.match(consent.body, '<code>notes:read</code>')
      t.match(consent.body, `<strong>${started.user_code}</strong>`)

      const forged = await submit(testApp, jar, '/device/consent', {
        csrf: hiddenField(entry.body, 'csrf'),
        user_code: started.user_code,
        decision: 'allow',
      })
      t.equal(forged.statusCode, 403, 'the entry form token cannot approve')
      t.equal((await pollDeviceToken(testApp, tv, started.device_code)).statusCode, 400)

      const done = await submit(testApp, jar, '/device/consent', {
        csrf: hiddenField(consent.body, 'csrf'),
        user_code: hiddenField(consent.body, 'user_code'),
        decision: 'allow',
      })
      t.equal(done.statusCode, 200)
      t.match(done.body, 'Device connected')

      clock.advance(5_000)
      const res = await pollDeviceToken(testApp, tv, started.device_code)
      t.equal(res.statusCode, 200)
      t.match(res.headers, noStore)
      const body = res.json()
      t.same(Object.keys(body).sort(), [
        'access_token',
        'expires_in',
        'id_token',
        'refresh_token',
        'scope',
        'token_type',
      ])
      t.equal(body.scope, 'openid email notes:read')
      const access = claimsOf(body.access_token)
      t.equal(access.aud, 'https://notes.example')
      t.equal(access.client_id, tv.id)
      t.same(access.amr, ['pwd'])
      const id = claimsOf(body.id_token)
      t.equal(id.aud, tv.id)
      t.equal(id.email, 'ada@example.com')
      t.equal(id.sub, access.sub)

      const refreshed = await app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: body.refresh_token,
          client_id: tv.id,
        }).toString(),
      })
      t.equal(refreshed.statusCode, 200, 'the refresh token works')

      clock.advance(5_000)
      const again = await pollDeviceToken(testApp, tv, started.device_code)
      t.equal(again.statusCode, 400)
      t.same(again.json(), { error: 'invalid_grant', error_description: 'device code is invalid or already used' })

      const events = await testApp.deps.db
        .selectFrom('audit_events')
        .select(['event', 'client_id'])
        .where('event', '=', 'device.approved')
        .execute()
      t.same(events, [{ event: 'device.approved', client_id: tv.id }])
    })

    t.test('of concurrent polls after approval exactly one gets tokens', async (t) => {
      const started = await start(testApp, tv)
      await answerDeviceInBrowser(testApp, started.verification_uri_complete, 'ada@example.com', 'allow')
      const polls = await Promise.all(
        Array.from({ length: 6 }, () => pollDeviceToken(testApp, tv, started.device_code)),
      )
      t.equal(polls.filter((res) => res.statusCode === 200).length, 1)
      t.same(
        polls.filter((res) => res.statusCode !== 200).map((res) => res.json().error),
        Array.from({ length: 5 }, () => 'invalid_grant'),
      )
    })

    t.test('polling faster than the interval answers slow_down and adds 5 s each time', async (t) => {
      const started = await start(testApp, tv)
      t.equal((await pollDeviceToken(testApp, tv, started.device_code)).json().error, 'authorization_pending')
      clock.advance(4_000)
      const fast = await pollDeviceToken(testApp, tv, started.device_code)
      t.equal(fast.statusCode, 400)
      t.same(fast.json(), {
        error: 'slow_down',
        error_description: 'polling too often: wait 5 seconds more between polls from now on',
      })
      clock.advance(9_000)
      t.equal(
        (await pollDeviceToken(testApp, tv, started.device_code)).json().error,
        'slow_down',
        '9 s is too soon after the interval became 10 s',
      )
      clock.advance(15_000)
      t.equal(
        (await pollDeviceToken(testApp, tv, started.device_code)).json().error,
        'authorization_pending',
        '15 s is the interval after two slow_downs',
      )
    })

    t.test('a denial answers access_denied', async (t) => {
      const started = await start(testApp, tv)
      const page = await answerDeviceInBrowser(testApp, started.verification_uri_complete, 'ada@example.com', 'deny')
      t.equal(page.statusCode, 200)
      t.match(page.body, 'Sign-in denied')
      const res = await pollDeviceToken(testApp, tv, started.device_code)
      t.equal(res.statusCode, 400)
      t.same(res.json(), { error: 'access_denied', error_description: 'the user denied the sign-in' })
    })

    // Regression: an approval no device had collected yet survived the user's password change and
    // the withdrawal of the app's consent, and a later poll still got tokens.
    t.test('a password change voids an approved sign-in the device has not collected', async (t) => {
      await registerUser(testApp, 'grace@example.com')
      const started = await start(testApp, tv, { scope: 'openid notes:read' })
      await answerDeviceInBrowser(testApp, started.verification_uri_complete, 'grace@example.com', 'allow')
      const grace = await login(testApp, 'grace@example.com')
      const changed = await app.inject({
        method: 'POST',
        url: '/auth/password-change',
        headers: { authorization: `Bearer ${grace.accessToken}` },
        payload: { current_password: PASSWORD, new_password: 'a different horse battery staple 43' },
        remoteAddress: nextClientIp(),
      })
      t.equal(changed.statusCode, 204)
      const res = await pollDeviceToken(testApp, tv, started.device_code)
      t.equal(res.statusCode, 400)
      t.same(res.json(), { error: 'access_denied', error_description: 'the user denied the sign-in' }, 'no tokens')
    })

    t.test("withdrawing the app's consent voids an approved sign-in the device has not collected", async (t) => {
      const otherApp = await start(testApp, other, { scope: 'notes:read' })
      await answerDeviceInBrowser(testApp, otherApp.verification_uri_complete, 'ada@example.com', 'allow')
      const started = await start(testApp, tv, { scope: 'openid notes:read' })
      await answerDeviceInBrowser(testApp, started.verification_uri_complete, 'ada@example.com', 'allow')
      const ada = await login(testApp, 'ada@example.com')
      const withdrawn = await app.inject({
        method: 'DELETE',
        url: `/auth/consents/${tv.id}`,
        headers: { authorization: `Bearer ${ada.accessToken}` },
      })
      t.equal(withdrawn.statusCode, 204)
      const res = await pollDeviceToken(testApp, tv, started.device_code)
      t.equal(res.statusCode, 400)
      t.same(res.json(), { error: 'access_denied', error_description: 'the user denied the sign-in' }, 'no tokens')
      const kept = await pollDeviceToken(testApp, other, otherApp.device_code)
      t.equal(kept.statusCode, 200, "another app's approval is not the withdrawn consent's")
    })

    t.test('after ten minutes the code answers expired_token and the page no longer knows it', async (t) => {
      const started = await start(testApp, tv)
      clock.advance(600_000)
      const res = await pollDeviceToken(testApp, tv, started.device_code)
      t.equal(res.statusCode, 400)
      t.same(res.json(), {
        error: 'expired_token',
        error_description: 'the device code has expired: start a new sign-in',
      })
      await t.rejects(
        answerDeviceInBrowser(testApp, started.verification_uri_complete, 'ada@example.com', 'allow'),
        /code entry failed: 400/,
      )
    })

    t.test("another client polling someone's device code gets invalid_grant", async (t) => {
      const started = await start(testApp, tv)
      await answerDeviceInBrowser(testApp, started.verification_uri_complete, 'ada@example.com', 'allow')
      const other = await registerClient(testApp, {
        name: 'Other device',
        type: 'public',
        grantTypes: [DEVICE_CODE_GRANT],
        scopes: ['openid'],
      })
      const res = await pollDeviceToken(testApp, other, started.device_code)
      t.equal(res.statusCode, 400)
      t.same(res.json(), { error: 'invalid_grant', error_description: 'device code is invalid or already used' })
      clock.advance(5_000)
      t.equal((await pollDeviceToken(testApp, tv, started.device_code)).statusCode, 200, 'its own client still can')
    })

    t.test('a client without the grant may neither start nor poll', async (t) => {
      const web = await registerClient(testApp, { grantTypes: ['client_credentials'] })
      const res = await requestDeviceAuthorization(testApp, web)
      t.equal(res.statusCode, 400)
      t.same(res.json(), {
        error: 'unauthorized_client',
        error_description: 'this client may not use the device authorization grant',
      })
      const poll = await pollDeviceToken(testApp, web, 'x'.repeat(43))
      t.same(poll.json(), {
        error: 'unauthorized_client',
        error_description: 'this client may not use the device_code grant',
      })
    })

    t.test('a confidential client must authenticate; scopes and resources stay within its registration', async (t) => {
      const box = await registerClient(testApp, { grantTypes: [DEVICE_CODE_GRANT], scopes: ['notes:read'] })
      const wrong = await requestDeviceAuthorization(testApp, {
        ...box,
        secret: 'x',
        basic: `Basic ${Buffer.from(`${box.id}:nope`).toString('base64')}`,
      })
      t.equal(wrong.statusCode, 401)
      t.equal(wrong.json().error, 'invalid_client')
      const wide = await requestDeviceAuthorization(testApp, box, { scope: 'notes:write' })
      t.same(wide.json(), {
        error: 'invalid_scope',
        error_description: 'scope not allowed for this client: notes:write',
      })
      const foreign = await requestDeviceAuthorization(testApp, box, { resource: 'https://elsewhere.example' })
      t.equal(foreign.json().error, 'invalid_target')
      const missing = await pollDeviceToken(testApp, box, '')
      t.same(missing.json(), { error: 'invalid_request', error_description: 'device_code is required' })
    })

    // Regression: the endpoint had no limit, so anyone with a public client_id could fill the table.
    t.test('starting device sign-ins is rate-limited per IP', async (t) => {
      for (let i = 0; i < 10; i++) {
        const res = await requestDeviceAuthorization(testApp, tv, {}, '203.0.113.77')
        t.equal(res.statusCode, 200, `request ${i + 1} of the budget`)
      }
      const limited = await requestDeviceAuthorization(testApp, tv, {}, '203.0.113.77')
      t.equal(limited.statusCode, 429)
      t.match(limited.headers, { 'retry-after': /^\d+$/ })
      t.match(limited.json(), {
        error: 'rate_limited',
        error_description: /^too many requests, retry after \d+ seconds$/,
      })
      const elsewhere = await requestDeviceAuthorization(testApp, tv, {}, '203.0.113.78')
      t.equal(elsewhere.statusCode, 200, 'another address has its own budget')
    })

    t.test('user code entry is rate-limited per IP', async (t) => {
      const jar = new CookieJar()
      const signinPage = await browse(testApp, jar, '/device')
      await submit(testApp, jar, '/signin', {
        csrf: hiddenField(signinPage.body, 'csrf'),
        device_user_code: hiddenField(signinPage.body, 'device_user_code'),
        email: 'ada@example.com',
        password: PASSWORD,
      })
      const entry = await browse(testApp, jar, '/device')
      t.notOk(entry.body.includes('name="device_user_code"'), 'signed in: the code entry form')
      const guess = () =>
        app.inject({
          method: 'POST',
          url: '/device',
          remoteAddress: '203.0.113.9',
          headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({ csrf: hiddenField(entry.body, 'csrf'), user_code: 'BBBB-BBBB' }).toString(),
        })
      for (let i = 0; i < 5; i++) {
        const res = await guess()
        t.equal(res.statusCode, 400, 'a wrong code is answered on the page')
        t.match(res.body, 'That code is not valid or has expired')
      }
      const limited = await guess()
      t.equal(limited.statusCode, 429)
      t.ok(Number(limited.headers['retry-after']) > 0)
    })

    t.test('expired device authorizations are purged by maintenance', async (t) => {
      const started = await start(testApp, tv)
      clock.advance(600_001)
      const purged = await runMaintenance(testApp.deps)
      t.ok((purged.device_authorizations ?? 0) >= 1)
      const left = await testApp.deps.db.selectFrom('device_authorizations').select('expires_at').execute()
      t.ok(
        left.every((row) => Number(row.expires_at) >= clock.now()),
        'only live ones remain',
      )
      t.equal((await pollDeviceToken(testApp, tv, started.device_code)).json().error, 'invalid_grant')
    })

    t.test('the page refuses malformed codes and forms without a valid CSRF token', async (t) => {
      const jar = new CookieJar()
      const started = await start(testApp, tv)
      const first = await browse(testApp, jar, '/device')
      await submit(testApp, jar, '/signin', {
        csrf: hiddenField(first.body, 'csrf'),
        device_user_code: '-',
        email: 'ada@example.com',
        password: PASSWORD,
      })
      const entry = await browse(testApp, jar, '/device')
      const noCsrf = await submit(testApp, jar, '/device', { user_code: started.user_code })
      t.equal(noCsrf.statusCode, 403)
      const lookAlike = await submit(testApp, jar, '/device', {
        csrf: hiddenField(entry.body, 'csrf'),
        user_code: 'AEIO-U101',
      })
      t.equal(lookAlike.statusCode, 400, 'letters outside the alphabet are never a code')
      t.equal((await pollDeviceToken(testApp, tv, started.device_code)).json().error, 'authorization_pending')
    })
  })
}
