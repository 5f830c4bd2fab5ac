import t from 'tap'
import { buildTestApp, registerClient, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import {
  CookieJar,
  authorizeUrl,
  browse,
  exchangeCode,
  hiddenField,
  pkcePair,
  redirectParams,
  signInOnPage,
  submit,
} from '../helpers/authorize.js'
import { enrolTotp, passwordStep, totpCode } from '../helpers/totp.js'
import { PASSWORD, claimsOf, login, nextClientIp, registerUser } from '../helpers/users.js'
import { adminAccess } from '../helpers/admin.js'

// LATCHKEY_MFA=required and clients registered with --require-mfa: no code and no first-party
// session for a sign-in without a completed second factor; enrolment or a step-up first.

const REDIRECT = 'https://app.example.com/callback'

const notes = (testApp: TestApp, requireMfa = false) =>
  registerClient(testApp, {
    name: requireMfa ? 'Payroll' : 'Notes',
    type: 'public',
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['openid'],
    redirectUris: [REDIRECT],
    firstParty: true,
    requireMfa,
  })

/** Starts an app's authorization request in the browser; returns the PKCE pair and the first page. */
async function startAuthorization(testApp: TestApp, jar: CookieJar, clientId: string) {
  const pkce = pkcePair()
  const url = authorizeUrl({ clientId, redirectUri: REDIRECT, challenge: pkce.challenge, scope: 'openid' })
  return { pkce, url, page: await browse(testApp, jar, url) }
}

async function amrOfCode(testApp: TestApp, clientId: string, code: string, verifier: string) {
  const tokens = await exchangeCode(testApp, {
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    client_id: clientId,
  })
  if (tokens.statusCode !== 200) throw new Error(`exchange: ${tokens.statusCode} ${tokens.body}`)
  return claimsOf(tokens.json<{ access_token: string }>().access_token).amr
}

for (const dialect of testDialects()) {
  t.test(`LATCHKEY_MFA=required on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_MFA: 'required' } })

    t.test('the API answers mfa_enrolment_required; the mfa_token sets up TOTP and opens the session', async (t) => {
      await registerUser(testApp, 'api@example.com')
      const res = await testApp.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: 'api@example.com', password: PASSWORD },
        remoteAddress: nextClientIp(),
      })
      t.equal(res.statusCode, 401)
      t.equal(res.headers['set-cookie'], undefined, 'no session')
      const body = res.json<{ error: string; error_description: string; mfa_token: string }>()
      t.equal(body.error, 'mfa_enrolment_required')
      t.type(body.mfa_token, 'string')
      const bearer = await testApp.app.inject({
        method: 'POST',
        url: '/auth/login/mfa',
        payload: { mfa_token: body.mfa_token, code: '123456' },
        remoteAddress: nextClientIp(),
      })
      t.equal(bearer.statusCode, 401, 'the token finishes no second step: there is no factor')

      const setup = await testApp.app.inject({
        method: 'POST',
        url: '/auth/login/mfa/totp/setup',
        payload: { mfa_token: body.mfa_token },
        remoteAddress: nextClientIp(),
      })
      t.equal(setup.statusCode, 200)
      t.equal(setup.headers['cache-control'], 'no-store')
      const { secret } = setup.json<{ secret: string }>()
      const wrong = await testApp.app.inject({
        method: 'POST',
        url: '/auth/login/mfa/totp/confirm',
        payload: { mfa_token: body.mfa_token, code: totpCode(secret, testApp.clock.now() + 600_000) },
        remoteAddress: nextClientIp(),
      })
      t.equal(wrong.statusCode, 400)
      t.equal(wrong.json().error, 'invalid_mfa_code')
      const confirm = await testApp.app.inject({
        method: 'POST',
        url: '/auth/login/mfa/totp/confirm',
        payload: { mfa_token: body.mfa_token, code: totpCode(secret, testApp.clock.now()) },
        remoteAddress: nextClientIp(),
      })
      t.equal(confirm.statusCode, 200)
      const done = confirm.json<{ access_token: string; recovery_codes: string[] }>()
      t.equal(done.recovery_codes.length, 10)
      t.same(claimsOf(done.access_token).amr, ['pwd', 'otp', 'mfa'])
      t.match(String(confirm.headers['set-cookie']), /__Host-latchkey_session=/)

      const reuse = await testApp.app.inject({
        method: 'POST',
        url: '/auth/login/mfa/totp/setup',
        payload: { mfa_token: body.mfa_token },
        remoteAddress: nextClientIp(),
      })
      t.equal(reuse.statusCode, 401, 'the token is used up')
      t.equal(reuse.json().error, 'invalid_mfa_token')
      testApp.clock.advance(30_000)
      t.type(await passwordStep(testApp, 'api@example.com'), 'string', 'the next sign-in asks for the code')
    })

    t.test('an mfa_token of a user with a factor cannot set up another one', async (t) => {
      await registerUser(testApp, 'has@example.com')
      // Enrolled before the policy mattered: through the enrolment token.
      const first = await testApp.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: 'has@example.com', password: PASSWORD },
        remoteAddress: nextClientIp(),
      })
      const token = first.json<{ mfa_token: string }>().mfa_token
      const setup = await testApp.app.inject({
        method: 'POST',
        url: '/auth/login/mfa/totp/setup',
        payload: { mfa_token: token },
        remoteAddress: nextClientIp(),
      })
      const { secret } = setup.json<{ secret: string }>()
      await testApp.app.inject({
        method: 'POST',
        url: '/auth/login/mfa/totp/confirm',
        payload: { mfa_token: token, code: totpCode(secret, testApp.clock.now()) },
        remoteAddress: nextClientIp(),
      })
      testApp.clock.advance(30_000)
      const second = await passwordStep(testApp, 'has@example.com')
      const again = await testApp.app.inject({
        method: 'POST',
        url: '/auth/login/mfa/totp/setup',
        payload: { mfa_token: second },
        remoteAddress: nextClientIp(),
      })
      t.equal(again.statusCode, 409)
      t.equal(again.json().error, 'mfa_already_enrolled')
    })

    t.test('the hosted sign-in sends a user without a factor to enrolment before any code', async (t) => {
      await registerUser(testApp, 'hosted@example.com')
      const app = await notes(testApp)
      const jar = new CookieJar()
      const { pkce, url, page } = await startAuthorization(testApp, jar, app.id)
      const afterPassword = await signInOnPage(testApp, jar, page.body, 'hosted@example.com')
      t.equal(afterPassword.statusCode, 303)
      const location = String(afterPassword.headers.location)
      t.match(location, /^\/account\/security\?authorize=/, 'to enrolment, not to the app')
      const again = await browse(testApp, jar, url)
      t.equal(again.statusCode, 302)
      t.match(String(again.headers.location), /^\/account\/security\?/, 'the sign-in alone gets no code')

      const security = await browse(testApp, jar, location)
      t.equal(security.statusCode, 200)
      t.match(security.body, /Set up a second factor to continue to the app/)
      t.notMatch(security.body, /name="password"/, 'a fresh sign-in needs no password')
      const setup = await submit(testApp, jar, '/account/security/totp/setup', {
        csrf: hiddenField(security.body, 'csrf'),
        authorize: hiddenField(security.body, 'authorize'),
      })
      t.equal(setup.statusCode, 200)
      t.match(setup.body, /<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[^>]*>.*<path/s, 'the QR code is server-side SVG')
      const secret = /<code id="totp-secret">([A-Z2-7]+)<\/code>/.exec(setup.body)![1]!
      const confirm = await submit(testApp, jar, '/account/security/totp/confirm', {
        csrf: hiddenField(setup.body, 'csrf'),
        authorize: hiddenField(setup.body, 'authorize'),
        code: totpCode(secret, testApp.clock.now()),
      })
      t.equal(confirm.statusCode, 200)
      t.equal([...confirm.body.matchAll(/<li><code>[^<]+<\/code><\/li>/g)].length, 10, 'ten recovery codes, once')
      const next = /<a id="continue" href="([^"]+)"/.exec(confirm.body)![1]!.replaceAll('&amp;', '&')
      const back = await browse(testApp, jar, next)
      t.equal(back.statusCode, 302)
      const code = redirectParams(back).get('code')!
      t.same(await amrOfCode(testApp, app.id, code, pkce.verifier), ['pwd', 'otp', 'mfa'])
    })
  })

  t.test(`clients registered with require_mfa on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const payroll = await notes(testApp, true)
    const plain = await notes(testApp, false)

    t.test('a password-only sign-in gets a code for other apps but a step-up for this one', async (t) => {
      await registerUser(testApp, 'step@example.com')
      const jar = new CookieJar()
      // Signed in at the hosted pages before the factor existed: amr ["pwd"].
      const first = await startAuthorization(testApp, jar, plain.id)
      const signedIn = await signInOnPage(testApp, jar, first.page.body, 'step@example.com')
      t.equal(signedIn.statusCode, 303)
      t.ok(redirectParams(signedIn).get('code'), 'an ordinary app gets its code')
      const { secret } = await enrolTotp(testApp, 'step@example.com')

      const { pkce, page } = await startAuthorization(testApp, jar, payroll.id)
      t.equal(page.statusCode, 200)
      t.match(page.body, /<h1>Two-step sign-in<\/h1>/, 'the second step, not a code')
      t.equal(page.headers.location, undefined)
      const done = await submit(testApp, jar, '/signin/mfa', {
        csrf: hiddenField(page.body, 'csrf'),
        authorize: hiddenField(page.body, 'authorize'),
        mfa_token: hiddenField(page.body, 'mfa_token'),
        code: totpCode(secret, testApp.clock.now()),
      })
      t.equal(done.statusCode, 303)
      const code = redirectParams(done).get('code')!
      t.same(await amrOfCode(testApp, payroll.id, code, pkce.verifier), ['pwd', 'otp', 'mfa'])
    })

    t.test('prompt=none cannot step up', async (t) => {
      await registerUser(testApp, 'silent@example.com')
      const jar = new CookieJar()
      const first = await startAuthorization(testApp, jar, plain.id)
      await signInOnPage(testApp, jar, first.page.body, 'silent@example.com')
      const pkce = pkcePair()
      const res = await browse(
        testApp,
        jar,
        authorizeUrl({
          clientId: payroll.id,
          redirectUri: REDIRECT,
          challenge: pkce.challenge,
          scope: 'openid',
          extra: { prompt: 'none' },
        }),
      )
      t.equal(res.statusCode, 302)
      t.equal(redirectParams(res).get('error'), 'interaction_required')
    })

    t.test('a user without a factor is sent to enrolment', async (t) => {
      await registerUser(testApp, 'none@example.com')
      const jar = new CookieJar()
      const { page } = await startAuthorization(testApp, jar, payroll.id)
      const afterPassword = await signInOnPage(testApp, jar, page.body, 'none@example.com')
      t.equal(afterPassword.statusCode, 303)
      t.match(String(afterPassword.headers.location), /^\/account\/security\?authorize=/)
    })

    t.test('the admin API and the client JSON carry require_mfa', async (t) => {
      const { clientId, headers: auth } = await adminAccess(testApp)
      const created = await testApp.app.inject({
        method: 'POST',
        url: '/admin/clients',
        headers: auth,
        payload: {
          name: 'HR',
          type: 'public',
          grant_types: ['authorization_code'],
          scope: 'openid',
          redirect_uris: [REDIRECT],
          require_mfa: true,
        },
      })
      t.equal(created.statusCode, 201)
      t.equal(created.json().require_mfa, true)
      const id = created.json<{ client_id: string }>().client_id
      const patched = await testApp.app.inject({
        method: 'PATCH',
        url: `/admin/clients/${id}`,
        headers: auth,
        payload: { require_mfa: false },
      })
      t.equal(patched.statusCode, 200)
      t.equal(patched.json().require_mfa, false)
      t.equal((await testApp.app.inject({ url: `/admin/clients/${id}`, headers: auth })).json().require_mfa, false)

      // DELETE /admin/users/:id/mfa: factors gone, sessions ended, audited with the acting client.
      await registerUser(testApp, 'lost@example.com')
      const { accessToken } = await enrolTotp(testApp, 'lost@example.com')
      const me = await testApp.app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${accessToken}` } })
      const userId = me.json<{ id: string }>().id
      const reset = await testApp.app.inject({ method: 'DELETE', url: `/admin/users/${userId}/mfa`, headers: auth })
      t.equal(reset.statusCode, 200)
      t.same(reset.json(), { id: userId, email: 'lost@example.com', factors_removed: ['totp'], sessions_revoked: 1 })
      testApp.clock.advance(1_000)
      const after = await testApp.app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${accessToken}` } })
      t.equal(after.statusCode, 401, 'the session ended')
      await login(testApp, 'lost@example.com')
      const audit = await testApp.app.inject({ url: '/admin/audit?type=mfa.reset_by_operator', headers: auth })
      t.match(audit.json().items, [{ client_id: clientId, details: { actor: 'admin_api', sessions_revoked: 1 } }])
      const again = await testApp.app.inject({ method: 'DELETE', url: `/admin/users/${userId}/mfa`, headers: auth })
      t.equal(again.statusCode, 409)
      t.equal(again.json().error, 'mfa_not_enrolled')
    })
  })
}
