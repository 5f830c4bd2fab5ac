import t from 'tap'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
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
import { enrolTotp, totpCode } from '../helpers/totp.js'
import { claimsOf, registerUser } from '../helpers/users.js'

// The hosted sign-in page of an app's authorization request: a user with TOTP gets the second
// step after the password, and no code reaches the app before it is done.

const REDIRECT = 'https://app.example.com/callback'

for (const dialect of testDialects()) {
  t.test(`the hosted sign-in asks for the second step before any code on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    await registerUser(testApp, 'hosted@example.com')
    const { secret } = await enrolTotp(testApp, 'hosted@example.com')
    const app = await registerClient(testApp, {
      name: 'Notes',
      type: 'public',
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'email'],
      redirectUris: [REDIRECT],
      firstParty: true,
    })
    const jar = new CookieJar()
    const pkce = pkcePair()
    const page = await browse(
      testApp,
      jar,
      authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge: pkce.challenge, scope: 'openid email' }),
    )
    const afterPassword = await signInOnPage(testApp, jar, page.body, 'hosted@example.com')
    t.equal(afterPassword.statusCode, 200)
    t.match(afterPassword.body, /<h1>Two-step sign-in<\/h1>/)
    t.notOk(jar.cookies.has('__Host-latchkey_signin'), 'no hosted sign-in yet')
    t.equal(afterPassword.headers.location, undefined, 'no redirect to the app')

    const fields = {
      csrf: hiddenField(afterPassword.body, 'csrf'),
      authorize: hiddenField(afterPassword.body, 'authorize'),
      mfa_token: hiddenField(afterPassword.body, 'mfa_token'),
    }
    const wrong = await submit(testApp, jar, '/signin/mfa', {
      ...fields,
      code: totpCode(secret, testApp.clock.now() + 600_000),
    })
    t.equal(wrong.statusCode, 401)
    t.match(wrong.body, /The code is incorrect or was already used\./)
    t.notOk(jar.cookies.has('__Host-latchkey_signin'))

    const done = await submit(testApp, jar, '/signin/mfa', {
      ...fields,
      csrf: hiddenField(wrong.body, 'csrf'),
      code: totpCode(secret, testApp.clock.now()),
    })
    t.equal(done.statusCode, 303, done.body)
    const code = redirectParams(done).get('code')!
    const tokens = await exchangeCode(testApp, {
      code,
      code_verifier: pkce.verifier,
      redirect_uri: REDIRECT,
      client_id: app.id,
    })
    t.equal(tokens.statusCode, 200, tokens.body)
    t.same(claimsOf(tokens.json().access_token).amr, ['pwd', 'otp', 'mfa'])
    t.same(claimsOf(tokens.json().id_token).amr, ['pwd', 'otp', 'mfa'])

    const replay = await submit(testApp, jar, '/signin/mfa', {
      ...fields,
      csrf: hiddenField(wrong.body, 'csrf'),
      code: totpCode(secret, testApp.clock.now() + 30_000),
    })
    t.equal(replay.statusCode, 401)
    t.match(replay.body, /<h1>Sign in<\/h1>/, 'a used mfa_token sends the user back to the password')
  })
  t.test(
    `a throttled second step answers 429 with Retry-After for a passkey as for a code on ${dialect}`,
    async (t) => {
      const testApp = await buildTestApp(t, { dialect })
      await registerUser(testApp, 'throttled@example.com')
      const { secret } = await enrolTotp(testApp, 'throttled@example.com')
      const app = await registerClient(testApp, {
        name: 'Notes',
        type: 'public',
        grantTypes: ['authorization_code', 'refresh_token'],
        scopes: ['openid'],
        redirectUris: [REDIRECT],
        firstParty: true,
      })
      const jar = new CookieJar()
      const secondStep = async () => {
        const page = await browse(
          testApp,
          jar,
          authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge: pkcePair().challenge, scope: 'openid' }),
        )
        const step = await signInOnPage(testApp, jar, page.body, 'throttled@example.com')
        t.equal(step.statusCode, 200, step.body)
        return step.body
      }
      const fieldsOf = (page: string) => ({
        csrf: hiddenField(page, 'csrf'),
        authorize: hiddenField(page, 'authorize'),
        mfa_token: hiddenField(page, 'mfa_token'),
      })
      // Wrong codes until the account's back-off answers. The back-off also holds the password step,
      // so the second steps are opened first; a used-up mfa_token moves on to the next one.
      const pages = [await secondStep(), await secondStep(), await secondStep()]
      let page = pages.shift()!
      let throttled = null
      for (let attempt = 0; attempt < 12 && !throttled; attempt++) {
        const wrong = await submit(testApp, jar, '/signin/mfa', {
          ...fieldsOf(page),
          code: totpCode(secret, testApp.clock.now() + 600_000),
        })
        if (wrong.statusCode === 429) throttled = wrong
        else if (wrong.body.includes('name="mfa_token"')) page = wrong.body
        else page = pages.shift()!
      }
      t.ok(throttled, 'wrong codes end in 429')
      t.ok(throttled!.headers['retry-after'], 'the code path says when to retry')

      const passkey = await submit(testApp, jar, '/signin/mfa/passkey', {
        ...fieldsOf(throttled!.body),
        passkey_response: JSON.stringify({
          id: 'AAAA',
          rawId: 'AAAA',
          type: 'public-key',
          response: { clientDataJSON: 'AAAA', authenticatorData: 'AAAA', signature: 'AAAA' },
          clientExtensionResults: {},
        }),
      })
      t.equal(passkey.statusCode, 429, 'a passkey tried while throttled is told so, not that it was wrong')
      t.ok(passkey.headers['retry-after'], 'and when to retry')
      t.match(passkey.body, /<h1>Two-step sign-in<\/h1>/)
    },
  )
}
