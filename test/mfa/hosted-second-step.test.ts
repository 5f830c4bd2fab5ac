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
}
