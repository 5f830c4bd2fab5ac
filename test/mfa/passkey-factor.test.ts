import { randomBytes, randomUUID } from 'node:crypto'
import t from 'tap'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { CookieJar, browse, hiddenField, signInOnPage, submit } from '../helpers/authorize.js'
import { passwordStep, secondStep } from '../helpers/totp.js'
import { PASSWORD, login, nextClientIp, registerUser } from '../helpers/users.js'
import { insertPasskey } from '../../server/passkeys/passkey.store.js'

// A passkey is a second factor (it turns the password alone into mfa_required): adding or removing
// one needs a sign-in younger than 5 minutes or the password, as TOTP does, over the API and on the
// hosted page; removing one ends the user's pending second steps, as removing TOTP does.

const STALE_MS = 6 * 60_000

async function userIdOf(testApp: TestApp, email: string): Promise<string> {
  const row = await testApp.deps.db
    .selectFrom('users')
    .select('id')
    .where('email', '=', email)
    .executeTakeFirstOrThrow()
  return row.id
}

/** A stored passkey for the user, made through the passkey store (the key itself is never used here). */
async function givePasskey(testApp: TestApp, email: string, name: string): Promise<string> {
  const id = randomUUID()
  await insertPasskey(testApp.deps.db, {
    id,
    userId: await userIdOf(testApp, email),
    credentialId: randomBytes(16).toString('base64url'),
    publicKey: new Uint8Array(randomBytes(77)),
    signCount: 0,
    transports: ['internal'],
    backupEligible: false,
    backedUp: false,
    name,
    createdAt: testApp.clock.now(),
    lastUsedAt: null,
  })
  return id
}

const reauthenticationRequired = {
  error: 'reauthentication_required',
  error_description: 'this needs a sign-in from the last 5 minutes, or your password in the request',
}

for (const dialect of testDialects()) {
  t.test(`passkeys change only with a recent sign-in or the password on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const { app, clock } = testApp
    let n = 0
    const newUser = async () => {
      const email = `pk${++n}@example.com`
      await registerUser(testApp, email)
      return email
    }
    const call = (method: 'POST' | 'DELETE', url: string, token: string, payload?: object) =>
      app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${token}` },
        remoteAddress: nextClientIp(),
        ...(payload ? { payload } : {}),
      })
    const passkeyNames = async (token: string) =>
      (await app.inject({ method: 'GET', url: '/auth/passkeys', headers: { authorization: `Bearer ${token}` } }))
        .json<{ passkeys: { name: string }[] }>()
        .passkeys.map((p) => p.name)

    t.test('a stale access token cannot ask for creation options, register or remove a passkey', async (t) => {
      const email = await newUser()
      const { accessToken } = await login(testApp, email)
      const fresh = await call('POST', '/auth/passkeys/register/options', accessToken)
      t.equal(fresh.statusCode, 200, 'a fresh sign-in gets options without a body')
      const victimKey = await givePasskey(testApp, email, 'victim key')

      clock.advance(STALE_MS)
      const options = await call('POST', '/auth/passkeys/register/options', accessToken)
      t.equal(options.statusCode, 403)
      t.same(options.json(), reauthenticationRequired)
      // The freshness check comes before the credential is looked at.
      const register = await call('POST', '/auth/passkeys/register', accessToken, {
        response: {
          id: 'AAAA',
          rawId: 'AAAA',
          type: 'public-key',
          response: { clientDataJSON: 'AAAA', attestationObject: 'AAAA' },
          clientExtensionResults: {},
        },
      })
      t.equal(register.statusCode, 403)
      t.same(register.json(), reauthenticationRequired)
      const remove = await call('DELETE', `/auth/passkeys/${victimKey}`, accessToken)
      t.equal(remove.statusCode, 403)
      t.same(remove.json(), reauthenticationRequired)
      t.same(await passkeyNames(accessToken), ['victim key'], 'the passkey is still there')

      const wrong = await call('DELETE', `/auth/passkeys/${victimKey}`, accessToken, { password: 'not the password' })
      t.equal(wrong.statusCode, 403)
      t.equal(wrong.json().error, 'invalid_credentials')
      t.same(await passkeyNames(accessToken), ['victim key'])

      const withPassword = await call('POST', '/auth/passkeys/register/options', accessToken, { password: PASSWORD })
      t.equal(withPassword.statusCode, 200, 'the password stands in for a recent sign-in')
      const removed = await call('DELETE', `/auth/passkeys/${victimKey}`, accessToken, { password: PASSWORD })
      t.equal(removed.statusCode, 204)
      t.same(await passkeyNames(accessToken), [])
    })

    t.test('removing a passkey ends the pending second steps of its user', async (t) => {
      const email = await newUser()
      const { accessToken } = await login(testApp, email)
      const keyId = await givePasskey(testApp, email, 'only key')
      const mfaToken = await passwordStep(testApp, email)
      t.equal((await call('DELETE', `/auth/passkeys/${keyId}`, accessToken)).statusCode, 204)
      const after = await secondStep(testApp, mfaToken, '000000')
      t.equal(after.statusCode, 401)
      t.same(after.json(), {
        error: 'invalid_mfa_token',
        error_description: 'the sign-in has expired or was already finished; sign in again',
      })
    })

    t.test('the hosted page asks for the password when the sign-in is stale', async (t) => {
      const email = await newUser()
      const jar = new CookieJar()
      const signinPage = await browse(testApp, jar, '/signin')
      const signedIn = await signInOnPage(testApp, jar, signinPage.body, email)
      t.match(signedIn.body, /<h1>Signed in<\/h1>/)
      const freshPage = await browse(testApp, jar, '/account/security')
      t.notMatch(freshPage.body, /name="password"/, 'a fresh sign-in needs no password')
      const options = await submit(testApp, jar, '/account/security/passkeys/options', {
        csrf: hiddenField(freshPage.body, 'csrf'),
      })
      t.equal(options.statusCode, 200)

      const storedKey = await givePasskey(testApp, email, 'hosted key')
      clock.advance(STALE_MS)
      const page = await browse(testApp, jar, '/account/security')
      t.match(page.body, /<input id="passkey-password" name="password" type="password"/)
      t.match(page.body, new RegExp(`<input id="remove-passkey-password-${storedKey}" name="password"`))
      const csrf = hiddenField(page.body, 'csrf')

      const staleOptions = await submit(testApp, jar, '/account/security/passkeys/options', { csrf })
      t.equal(staleOptions.statusCode, 403)
      t.equal(staleOptions.body, 'This needs a sign-in from the last 5 minutes, or your password in the request.')
      const staleAdd = await submit(testApp, jar, '/account/security/passkeys', {
        csrf,
        passkey_response: '{}',
        name: 'attacker key',
      })
      t.equal(staleAdd.statusCode, 400)
      t.match(staleAdd.body, /This needs a sign-in from the last 5 minutes/)
      const staleDelete = await submit(testApp, jar, '/account/security/passkeys/delete', {
        csrf,
        passkey_id: storedKey,
      })
      t.equal(staleDelete.statusCode, 400)
      t.match(staleDelete.body, /This needs a sign-in from the last 5 minutes/)
      t.match(staleDelete.body, /<strong>hosted key<\/strong>/, 'the passkey is still listed')

      const withPassword = await submit(testApp, jar, '/account/security/passkeys/options', {
        csrf,
        password: PASSWORD,
      })
      t.equal(withPassword.statusCode, 200)
      const deleted = await submit(testApp, jar, '/account/security/passkeys/delete', {
        csrf,
        passkey_id: storedKey,
        password: PASSWORD,
      })
      t.equal(deleted.statusCode, 200)
      t.match(deleted.body, /Passkey &quot;hosted key&quot; removed\.|Passkey "hosted key" removed\./)
      t.match(deleted.body, /You have no passkeys yet\./)
    })
  })
}
