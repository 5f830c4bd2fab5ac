import t from 'tap'
import * as oauth from 'oauth4webapi'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
import { freePort } from '../helpers/free-port.js'
import { hiddenField } from '../helpers/authorize.js'
import { testDialects } from '../helpers/test-database.js'
import { PASSWORD, registerUser } from '../helpers/users.js'

// A standard OpenID Connect client none of us wrote (panva's oauth4webapi) against a listening
// Latchkey. The only relaxation is plain http, which is on loopback. The browser's part (the
// hosted sign-in and consent forms) is played with fetch and a cookie map.

/** A browser's cookie handling, enough for Latchkey's own cookies. */
function cookieJar() {
  const cookies = new Map<string, string>()
  return {
    take(res: Response) {
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';')
        const at = pair!.indexOf('=')
        if (/max-age=0/i.test(line) || pair!.slice(at + 1) === '') cookies.delete(pair!.slice(0, at))
        else cookies.set(pair!.slice(0, at), pair!.slice(at + 1))
      }
    },
    header: () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
  }
}

/** The OAuth error code a rejected oauth4webapi call carries. */
async function errorCodeOf(promise: Promise<unknown>): Promise<string | null> {
  return promise.then(
    () => null,
    (error: unknown) => (error instanceof oauth.ResponseBodyError ? error.error : String(error)),
  )
}

for (const dialect of testDialects()) {
  t.test(`oauth4webapi completes OpenID Connect against Latchkey on ${dialect}`, async (t) => {
    const port = await freePort()
    const issuerText = `http://127.0.0.1:${port}`
    const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_ISSUER: issuerText } })
    await testApp.app.listen({ port, host: '127.0.0.1' })
    await registerUser(testApp, 'ada@example.com', PASSWORD, 'Ada Lovelace')
    const options = { [oauth.allowInsecureRequests]: true }
    const redirectUri = 'https://rp.example.com/cb'

    const issuer = new URL(issuerText)
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...options }),
    )
    t.equal(as.issuer, issuerText, 'discovery')
    t.same(as.code_challenge_methods_supported, ['S256'])

    /** Runs the browser part: the authorization URL through sign-in (and consent) to the redirect. */
    async function authorizeInBrowser(url: URL, consent: boolean): Promise<URL> {
      const jar = cookieJar()
      const page = await fetch(url, { redirect: 'manual' })
      jar.take(page)
      const html = await page.text()
      t.equal(page.status, 200, 'the hosted sign-in page')
      const form = (fields: Record<string, string>) => ({
        method: 'POST',
        redirect: 'manual' as const,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
        body: new URLSearchParams(fields).toString(),
      })
      let res = await fetch(
        `${issuerText}/signin`,
        form({
          csrf: hiddenField(html, 'csrf'),
          authorize: hiddenField(html, 'authorize'),
          email: 'ada@example.com',
          password: PASSWORD,
        }),
      )
      jar.take(res)
      if (consent) {
        const consentPage = await res.text()
        t.equal(res.status, 200, 'the consent page')
        res = await fetch(
          `${issuerText}/consent`,
          form({
            csrf: hiddenField(consentPage, 'csrf'),
            authorize: hiddenField(consentPage, 'authorize'),
            decision: 'allow',
          }),
        )
      }
      t.equal(res.status, 303)
      return new URL(res.headers.get('location')!)
    }

    for (const kind of ['public first-party', 'confidential third-party'] as const) {
      t.test(`a ${kind} client: code + PKCE, ID token, userinfo, refresh, revocation`, async (t) => {
        const registered = await registerClient(testApp, {
          name: kind,
          type: kind.startsWith('public') ? 'public' : 'confidential',
          grantTypes: ['authorization_code', 'refresh_token'],
          scopes: ['openid', 'email', 'profile'],
          audiences: [],
          redirectUris: [redirectUri],
          firstParty: kind.endsWith('first-party'),
        })
        const client: oauth.Client = { client_id: registered.id }
        const clientAuth = kind.startsWith('public') ? oauth.None() : oauth.ClientSecretBasic(registered.secret)
        const codeVerifier = oauth.generateRandomCodeVerifier()
        const state = oauth.generateRandomState()
        const nonce = oauth.generateRandomNonce()
        const url = new URL(as.authorization_endpoint!)
        url.search = new URLSearchParams({
          client_id: client.client_id,
          redirect_uri: redirectUri,
          response_type: 'code',
          scope: 'openid email profile',
          code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
          code_challenge_method: 'S256',
          state,
          nonce,
          max_age: '600',
        }).toString()

        const callback = await authorizeInBrowser(url, kind.endsWith('third-party'))
        const params = oauth.validateAuthResponse(as, client, callback, state)
        const response = await oauth.authorizationCodeGrantRequest(
          as,
          client,
          clientAuth,
          params,
          redirectUri,
          codeVerifier,
          options,
        )
        const result = await oauth.processAuthorizationCodeResponse(as, client, response, {
          expectedNonce: nonce,
          requireIdToken: true,
          maxAge: 600,
        })
        const claims = oauth.getValidatedIdTokenClaims(result)!
        t.equal(claims.email, 'ada@example.com', 'the ID token is valid and carries the email')
        t.equal(claims.name, 'Ada Lovelace')
        t.ok(result.refresh_token)

        const userinfo = await oauth.processUserInfoResponse(
          as,
          client,
          claims.sub,
          await oauth.userInfoRequest(as, client, result.access_token, options),
        )
        t.same(userinfo, { sub: claims.sub, email: 'ada@example.com', email_verified: false, name: 'Ada Lovelace' })

        const refreshed = await oauth.processRefreshTokenResponse(
          as,
          client,
          await oauth.refreshTokenGrantRequest(as, client, clientAuth, result.refresh_token!, options),
        )
        t.ok(refreshed.access_token, 'refresh')
        t.not(refreshed.refresh_token, result.refresh_token, 'rotated')

        await oauth.processRevocationResponse(
          await oauth.revocationRequest(as, client, clientAuth, refreshed.refresh_token!, options),
        )
        const afterRevoke = oauth.processRefreshTokenResponse(
          as,
          client,
          await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshed.refresh_token!, options),
        )
        t.equal(await errorCodeOf(afterRevoke), 'invalid_grant', 'the revoked refresh token no longer works')

        const replay = oauth.processAuthorizationCodeResponse(
          as,
          client,
          await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectUri, codeVerifier, options),
          { expectedNonce: nonce },
        )
        t.equal(await errorCodeOf(replay), 'invalid_grant', 'the code works once')
      })
    }
  })
}
