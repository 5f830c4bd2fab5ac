import t from 'tap'
import { buildTestApp, registerClient, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { CookieJar, browse, hiddenField, submit } from '../helpers/authorize.js'
import { DEVICE_CODE_GRANT, pollDeviceToken, requestDeviceAuthorization } from '../helpers/device.js'
import { enrolTotp, totpCode } from '../helpers/totp.js'
import { PASSWORD, claimsOf, registerUser } from '../helpers/users.js'

// The device flow's approval (/device, /device/consent) follows the same second-factor rules as
// /oauth/authorize: LATCHKEY_MFA=required sends a user without a factor to set one up, and a
// client registered with --require-mfa needs the second step in this sign-in before approval.

const tvOf = (testApp: TestApp, requireMfa: boolean) =>
  registerClient(testApp, {
    name: 'Living-room TV',
    type: 'public',
    grantTypes: [DEVICE_CODE_GRANT],
    scopes: ['openid', 'email'],
    requireMfa,
  })

/** Signs in at /device with the password only; returns the code entry page. */
async function signInAtDevice(testApp: TestApp, jar: CookieJar, email: string) {
  const page = await browse(testApp, jar, '/device')
  return submit(testApp, jar, '/signin', {
    csrf: hiddenField(page.body, 'csrf'),
    device_user_code: hiddenField(page.body, 'device_user_code'),
    email,
    password: PASSWORD,
  })
}

for (const dialect of testDialects()) {
  t.test(`the device approval asks for the second factor on ${dialect}`, async (t) => {
    t.test('a --require-mfa client: the code entry leads to the second step, then approval', async (t) => {
      const testApp = await buildTestApp(t, { dialect })
      const tv = await tvOf(testApp, true)
      await registerUser(testApp, 'tv@example.com')
      // A hosted sign-in with the password only (the user had no factor then), and one added since.
      const jar = new CookieJar()
      const device = (await requestDeviceAuthorization(testApp, tv, { scope: 'openid email' })).json()
      const passwordOnly = await signInAtDevice(testApp, jar, 'tv@example.com')
      t.equal(passwordOnly.headers.location, '/device', 'no factor yet: signed in with the password')
      const again = await enrolTotp(testApp, 'tv@example.com')

      const entry = await browse(testApp, jar, '/device')
      const typed = await submit(testApp, jar, '/device', {
        csrf: hiddenField(entry.body, 'csrf'),
        user_code: device.user_code,
      })
      t.equal(typed.statusCode, 200)
      t.match(typed.body, /<h1>Two-step sign-in<\/h1>/, 'the second step, not the approval')
      t.notMatch(typed.body, /\/device\/consent/)
      // A forged approval (the consent form's token is bound to this sign-in) approves nothing either.
      const pending = await pollDeviceToken(testApp, tv, device.device_code)
      t.equal(pending.json().error, 'authorization_pending')

      const stepped = await submit(testApp, jar, '/signin/mfa', {
        csrf: hiddenField(typed.body, 'csrf'),
        device_user_code: hiddenField(typed.body, 'device_user_code'),
        mfa_token: hiddenField(typed.body, 'mfa_token'),
        code: totpCode(again.secret, testApp.clock.now()),
      })
      t.equal(stepped.statusCode, 303, stepped.body)
      t.match(String(stepped.headers.location), /^\/device\?user_code=/)
      const back = await browse(testApp, jar, String(stepped.headers.location))
      const consent = await submit(testApp, jar, '/device', {
        csrf: hiddenField(back.body, 'csrf'),
        user_code: device.user_code,
      })
      t.match(consent.body, /\/device\/consent/, 'now the approval')
      const allowed = await submit(testApp, jar, '/device/consent', {
        csrf: hiddenField(consent.body, 'csrf'),
        user_code: hiddenField(consent.body, 'user_code'),
        decision: 'allow',
      })
      t.equal(allowed.statusCode, 200)
      const tokens = await pollDeviceToken(testApp, tv, device.device_code)
      t.equal(tokens.statusCode, 200)
      t.same(claimsOf(tokens.json().access_token).amr, ['pwd', 'otp', 'mfa'])
    })

    t.test('a client without --require-mfa is approved after the password alone', async (t) => {
      const testApp = await buildTestApp(t, { dialect })
      const tv = await tvOf(testApp, false)
      await registerUser(testApp, 'plain@example.com')
      const jar = new CookieJar()
      const device = (await requestDeviceAuthorization(testApp, tv, { scope: 'openid email' })).json()
      await signInAtDevice(testApp, jar, 'plain@example.com')
      const entry = await browse(testApp, jar, '/device')
      const typed = await submit(testApp, jar, '/device', {
        csrf: hiddenField(entry.body, 'csrf'),
        user_code: device.user_code,
      })
      t.match(typed.body, /\/device\/consent/)
    })

    t.test('LATCHKEY_MFA=required: a user without a factor is sent to set one up, nothing is approved', async (t) => {
      const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_MFA: 'required' } })
      const tv = await tvOf(testApp, false)
      await registerUser(testApp, 'new@example.com')
      const jar = new CookieJar()
      const device = (await requestDeviceAuthorization(testApp, tv, { scope: 'openid email' })).json()
      const signedIn = await signInAtDevice(testApp, jar, 'new@example.com')
      t.equal(signedIn.statusCode, 303)
      t.equal(signedIn.headers.location, '/account/security', 'the sign-in itself goes to enrolment')
      // Even when the user goes to /device directly with this sign-in:
      const entry = await browse(testApp, jar, '/device')
      const typed = await submit(testApp, jar, '/device', {
        csrf: hiddenField(entry.body, 'csrf'),
        user_code: device.user_code,
      })
      t.equal(typed.statusCode, 303)
      t.equal(typed.headers.location, '/account/security')
      const consent = await submit(testApp, jar, '/device/consent', {
        csrf: hiddenField(entry.body, 'csrf'),
        user_code: device.user_code,
        decision: 'allow',
      })
      t.not(consent.statusCode, 200, 'no approval page answered')
      t.equal((await pollDeviceToken(testApp, tv, device.device_code)).json().error, 'authorization_pending')
    })
  })
}
