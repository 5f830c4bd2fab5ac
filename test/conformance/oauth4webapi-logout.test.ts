import t from 'tap'
import * as oauth from 'oauth4webapi'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
import { freePort } from '../helpers/free-port.js'
import { hiddenField } from '../helpers/authorize.js'
import { testDialects } from '../helpers/test-database.js'
import { PASSWORD, registerUser } from '../helpers/users.js'

// panva's oauth4webapi against a listening Latchkey: a refresh that returns a new ID token (OIDC
// Core §12.2), validated by oauth4webapi, then RP-initiated logout through the end_session_endpoint
// it discovered. The browser is fetch with a cookie map.

function cookieJar() {
  const cookies = new Map<string, string>()
  return {
    take(res: Response) {
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';')
        const at = pair!.indexOf('=')
        if (/max-age=0|expires=thu, 01 jan 1970/i.test(line) || pair!.slice(at + 1) === '')
          cookies.delete(pair!.slice(0, at))
        else cookies.set(pair!.slice(0, at), pair!.slice(at + 1))
      }
    },
    header: () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
  }
}

async function errorCodeOf(promise: Promise<unknown>): Promise<string | null> {
  return promise.then(
    () => null,
    (error: unknown) => (error instanceof oauth.ResponseBodyError ? error.error : String(error)),
  )
}

for (const dialect of testDialects()) {
  t.test(`oauth4webapi refreshes with an ID token and logs out on ${dialect}`, async (t) => {
    const port = await freePort()
    const issuerText = `http://127.0.0.1:${port}`
    const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_ISSUER: issuerText } })
    await testApp.app.listen({ port, host: '127.0.0.1' })
    await registerUser(testApp, 'ada@example.com', PASSWORD, 'Ada Lovelace')
    const options = { [oauth.allowInsecureRequests]: true }
    const redirectUri = 'https://rp.example.com/cb'
    const loggedOut = 'https://rp.example.com/logged-out'
    const registered = await registerClient(testApp, {
      name: 'Notes',
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'email'],
      audiences: [],
      redirectUris: [redirectUri],
      postLogoutRedirectUris: [loggedOut],
      firstParty: true,
    })
    const client: oauth.Client = { client_id: registered.id }
    const clientAuth = oauth.ClientSecretBasic(registered.secret)

    const issuer = new URL(issuerText)
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...options }),
    )
    t.equal(as.end_session_endpoint, `${issuerText}/oauth/logout`, 'discovered')

    // The authorization code flow, the browser's part by hand.
    const jar = cookieJar()
    const codeVerifier = oauth.generateRandomCodeVerifier()
    const nonce = oauth.generateRandomNonce()
    const url = new URL(as.authorization_endpoint!)
    url.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'openid email',
      code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      nonce,
    }).toString()
    const page = await fetch(url, { redirect: 'manual' })
    jar.take(page)
    const html = await page.text()
    const signin = await fetch(`${issuerText}/signin`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
      body: new URLSearchParams({
        csrf: hiddenField(html, 'csrf'),
        authorize: hiddenField(html, 'authorize'),
        email: 'ada@example.com',
        password: PASSWORD,
      }).toString(),
    })
    jar.take(signin)
    t.equal(signin.status, 303)
    const params = oauth.validateAuthResponse(as, client, new URL(signin.headers.get('location')!))
    const result = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectUri, codeVerifier, options),
      { expectedNonce: nonce, requireIdToken: true },
    )
    const first = oauth.getValidatedIdTokenClaims(result)!

    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, result.refresh_token!, options),
    )
    const again = oauth.getValidatedIdTokenClaims(refreshed)
    t.ok(again, 'oauth4webapi validated a new ID token on refresh')
    t.equal(again!.sub, first.sub)
    t.equal(again!.sid, first.sid)
    t.equal(again!.auth_time, first.auth_time)
    t.equal(again!.nonce, undefined)

    // RP-initiated logout with the ID token oauth4webapi holds.
    const logout = new URL(as.end_session_endpoint!)
    logout.search = new URLSearchParams({
      id_token_hint: refreshed.id_token!,
      post_logout_redirect_uri: loggedOut,
      state: 'bye-42',
    }).toString()
    const out = await fetch(logout, { redirect: 'manual', headers: { cookie: jar.header() } })
    jar.take(out)
    t.equal(out.status, 302)
    t.equal(out.headers.get('location'), `${loggedOut}?state=bye-42`)

    const afterLogout = oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshed.refresh_token!, options),
    )
    t.equal(await errorCodeOf(afterLogout), 'invalid_grant', 'the app session ended with the sign-in')
    const reauthorize = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } })
    t.equal(reauthorize.status, 200, 'the hosted sign-in ended: the sign-in page again')
  })
}
