import t from 'tap'
import { buildTestApp, registerClient, type TestApp } from '../helpers/build-test-app.js'
import {
  CookieJar,
  answerConsent,
  authorizeUrl,
  browse,
  exchangeCode,
  pkcePair,
  redirectParams,
  signInOnPage,
} from '../helpers/authorize.js'
import { testDialects } from '../helpers/test-database.js'
import { registerUser } from '../helpers/users.js'

// Finding L1: a code was marked used before the client was checked, so anyone holding a leaked
// code could burn it with any client. It is now claimed only by the client it was issued to.

const REDIRECT = 'https://app.example.com/callback'

const publicClient = (testApp: TestApp) =>
  registerClient(testApp, {
    type: 'public',
    grantTypes: ['authorization_code'],
    scopes: ['openid'],
    redirectUris: [REDIRECT],
  })

for (const dialect of testDialects()) {
  t.test(`regression L1: another client cannot burn a code on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const owner = await publicClient(testApp)
    const other = await publicClient(testApp)
    await registerUser(testApp, 'ada@example.com')
    const jar = new CookieJar()
    const { verifier, challenge } = pkcePair()
    const page = await browse(testApp, jar, authorizeUrl({ clientId: owner.id, redirectUri: REDIRECT, challenge }))
    let res = await signInOnPage(testApp, jar, page.body, 'ada@example.com')
    if (res.statusCode === 200) res = await answerConsent(testApp, jar, res.body, 'allow')
    const code = redirectParams(res).get('code')!

    const stolen = await exchangeCode(testApp, {
      code,
      redirect_uri: REDIRECT,
      client_id: other.id,
      code_verifier: verifier,
    })
    t.equal(stolen.statusCode, 400)
    t.same(stolen.json(), {
      error: 'invalid_grant',
      error_description: 'authorization code is invalid, expired or already used',
    })
    const row = await testApp.deps.db.selectFrom('authorization_codes').select(['used_at', 'replayed_at']).execute()
    t.same(row, [{ used_at: null, replayed_at: null }], 'the code is neither used nor marked replayed')

    const own = await exchangeCode(testApp, {
      code,
      redirect_uri: REDIRECT,
      client_id: owner.id,
      code_verifier: verifier,
    })
    t.equal(own.statusCode, 200, 'its own client still exchanges it')
    t.type(own.json().access_token, 'string')
  })
}
