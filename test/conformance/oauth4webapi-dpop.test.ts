import t from 'tap'
import * as oauth from 'oauth4webapi'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
import { freePort } from '../helpers/free-port.js'
import { CookieJar, authorizeUrl, browse, redirectParams, signInOnPage } from '../helpers/authorize.js'
import { testDialects } from '../helpers/test-database.js'
import { PASSWORD, registerUser, claimsOf } from '../helpers/users.js'
import { DEVICE_CODE_GRANT, answerDeviceInBrowser } from '../helpers/device.js'

// panva's oauth4webapi, a DPoP client none of us wrote, against a listening Latchkey: every grant
// with DPoP, including the server-nonce dance (use_dpop_nonce, then a retry with the nonce the
// handle picked up from the DPoP-Nonce header).

/** The OAuth error code a rejected oauth4webapi call carries. */
async function errorCodeOf(promise: Promise<unknown>): Promise<string | null> {
  return promise.then(
    () => null,
    (error: unknown) => (error instanceof oauth.ResponseBodyError ? error.error : String(error)),
  )
}

/** Runs a request, and once more if the server asked for a (new) DPoP nonce. */
async function withNonceRetry<T>(attempt: () => Promise<T>, seen: { retries: number }): Promise<T> {
  try {
    return await attempt()
  } catch (error) {
    if (!oauth.isDPoPNonceError(error)) throw error
    seen.retries++
    return attempt()
  }
}

for (const dialect of testDialects()) {
  t.test(`oauth4webapi completes DPoP against Latchkey on ${dialect}`, async (t) => {
    const port = await freePort()
    const issuerText = `http://127.0.0.1:${port}`
    const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_ISSUER: issuerText } })
    await testApp.app.listen({ port, host: '127.0.0.1' })
    const options = { [oauth.allowInsecureRequests]: true }
    const issuer = new URL(issuerText)
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...options }),
    )
    t.same(as.dpop_signing_alg_values_supported, ['ES256', 'EdDSA', 'RS256', 'PS256'])

    t.test('client_credentials with a client that requires DPoP', async (t) => {
      // Registered for introspection of its audience's tokens (issue 11, L3), to read the binding back.
      const registered = await registerClient(testApp, { requireDpop: true, introspection: true })
      const client: oauth.Client = { client_id: registered.id }
      const auth = oauth.ClientSecretBasic(registered.secret)
      const without = oauth.processClientCredentialsResponse(
        as,
        client,
        await oauth.clientCredentialsGrantRequest(as, client, auth, { scope: 'notes:read' }, options),
      )
      t.equal(await errorCodeOf(without), 'invalid_dpop_proof', 'no proof, no token')

      const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
      const seen = { retries: 0 }
      const result = await withNonceRetry(
        async () =>
          oauth.processClientCredentialsResponse(
            as,
            client,
            await oauth.clientCredentialsGrantRequest(as, client, auth, { scope: 'notes:read' }, { ...options, DPoP }),
          ),
        seen,
      )
      t.equal(seen.retries, 1, 'the first request was answered use_dpop_nonce')
      t.equal(result.token_type, 'dpop')
      t.same(claimsOf(result.access_token).cnf, { jkt: await DPoP.calculateThumbprint() })

      const introspection = await oauth.processIntrospectionResponse(
        as,
        client,
        await oauth.introspectionRequest(as, client, auth, result.access_token, options),
      )
      t.match(introspection, { active: true, token_type: 'DPoP', cnf: { jkt: await DPoP.calculateThumbprint() } })
    })

    t.test('authorization_code, userinfo and refresh for a public client, bound to its key', async (t) => {
      await registerUser(testApp, 'ada@example.com', PASSWORD, 'Ada Lovelace')
      const redirectUri = 'https://rp.example.com/cb'
      const registered = await registerClient(testApp, {
        type: 'public',
        grantTypes: ['authorization_code', 'refresh_token'],
        scopes: ['openid', 'email'],
        audiences: [],
        redirectUris: [redirectUri],
        firstParty: true,
      })
      const client: oauth.Client = { client_id: registered.id }
      const auth = oauth.None()
      const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
      const codeVerifier = oauth.generateRandomCodeVerifier()
      const state = oauth.generateRandomState()
      const jar = new CookieJar()
      const page = await browse(
        testApp,
        jar,
        authorizeUrl({
          clientId: client.client_id,
          redirectUri,
          challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
          scope: 'openid email',
          state,
        }),
      )
      const signedIn = await signInOnPage(testApp, jar, page.body, 'ada@example.com')
      const callback = new URL(`${redirectUri}?${redirectParams(signedIn).toString()}`)
      const params = oauth.validateAuthResponse(as, client, callback, state)

      const seen = { retries: 0 }
      const result = await withNonceRetry(
        async () =>
          oauth.processAuthorizationCodeResponse(
            as,
            client,
            await oauth.authorizationCodeGrantRequest(as, client, auth, params, redirectUri, codeVerifier, {
              ...options,
              DPoP,
            }),
          ),
        seen,
      )
      t.equal(result.token_type, 'dpop')
      t.ok(result.refresh_token)
      const sub = oauth.getValidatedIdTokenClaims(result)!.sub

      const userinfo = await oauth.processUserInfoResponse(
        as,
        client,
        sub,
        await oauth.userInfoRequest(as, client, result.access_token, { ...options, DPoP }),
      )
      t.equal(userinfo.email, 'ada@example.com', 'userinfo with Authorization: DPoP and a proof with ath')

      const refreshed = await withNonceRetry(
        async () =>
          oauth.processRefreshTokenResponse(
            as,
            client,
            await oauth.refreshTokenGrantRequest(as, client, auth, result.refresh_token!, { ...options, DPoP }),
          ),
        seen,
      )
      t.equal(refreshed.token_type, 'dpop', 'refresh with the same key')

      const otherKey = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
      const stolen = withNonceRetry(
        async () =>
          oauth.processRefreshTokenResponse(
            as,
            client,
            await oauth.refreshTokenGrantRequest(as, client, auth, refreshed.refresh_token!, {
              ...options,
              DPoP: otherKey,
            }),
          ),
        seen,
      )
      t.equal(await errorCodeOf(stolen), 'invalid_grant', 'a refresh token is useless with another key')
      const noKey = oauth.processRefreshTokenResponse(
        as,
        client,
        await oauth.refreshTokenGrantRequest(as, client, auth, refreshed.refresh_token!, options),
      )
      t.equal(await errorCodeOf(noKey), 'invalid_dpop_proof', 'or without a proof')
    })

    t.test('the device flow for a public client: polls, tokens and refresh bound to its key', async (t) => {
      const registered = await registerClient(testApp, {
        name: 'Living-room TV',
        type: 'public',
        grantTypes: [DEVICE_CODE_GRANT, 'refresh_token'],
        scopes: ['openid', 'notes:read'],
        audiences: ['https://notes.example'],
      })
      const client: oauth.Client = { client_id: registered.id }
      const auth = oauth.None()
      const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
      const device = await oauth.processDeviceAuthorizationResponse(
        as,
        client,
        await oauth.deviceAuthorizationRequest(
          as,
          client,
          auth,
          { scope: 'openid notes:read', resource: 'https://notes.example' },
          options,
        ),
      )
      const seen = { retries: 0 }
      const poll = () =>
        withNonceRetry(
          async () =>
            oauth.processDeviceCodeResponse(
              as,
              client,
              await oauth.deviceCodeGrantRequest(as, client, auth, device.device_code, { ...options, DPoP }),
            ),
          seen,
        )
      t.equal(await errorCodeOf(poll()), 'authorization_pending', 'a poll with a proof, before the answer')
      await answerDeviceInBrowser(testApp, device.verification_uri_complete!, 'ada@example.com', 'allow')
      testApp.clock.advance(10_000)
      const result = await poll()
      t.equal(result.token_type, 'dpop')
      t.same(claimsOf(result.access_token).cnf, { jkt: await DPoP.calculateThumbprint() })
      t.ok(oauth.getValidatedIdTokenClaims(result), 'a valid ID token')

      const refreshed = await withNonceRetry(
        async () =>
          oauth.processRefreshTokenResponse(
            as,
            client,
            await oauth.refreshTokenGrantRequest(as, client, auth, result.refresh_token!, { ...options, DPoP }),
          ),
        seen,
      )
      t.equal(refreshed.token_type, 'dpop', 'refresh with the same key')
      const noKey = oauth.processRefreshTokenResponse(
        as,
        client,
        await oauth.refreshTokenGrantRequest(as, client, auth, refreshed.refresh_token!, options),
      )
      t.equal(await errorCodeOf(noKey), 'invalid_dpop_proof', "the device's refresh token needs its key")
    })

    t.test('dpop_jkt in the authorization request: the code goes only with that key', async (t) => {
      const redirectUri = 'https://rp.example.com/jkt'
      const registered = await registerClient(testApp, {
        type: 'public',
        grantTypes: ['authorization_code'],
        scopes: ['openid'],
        audiences: [],
        redirectUris: [redirectUri],
        firstParty: true,
      })
      const client: oauth.Client = { client_id: registered.id }
      const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
      const other = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
      const codeFor = async (codeVerifier: string, state: string) => {
        const jar = new CookieJar()
        const page = await browse(
          testApp,
          jar,
          authorizeUrl({
            clientId: client.client_id,
            redirectUri,
            challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
            scope: 'openid',
            state,
            extra: { dpop_jkt: await DPoP.calculateThumbprint() },
          }),
        )
        const signedIn = await signInOnPage(testApp, jar, page.body, 'ada@example.com')
        const callback = new URL(`${redirectUri}?${redirectParams(signedIn).toString()}`)
        return oauth.validateAuthResponse(as, client, callback, state)
      }
      const redeem = async (key: oauth.DPoPHandle) => {
        const codeVerifier = oauth.generateRandomCodeVerifier()
        const params = await codeFor(codeVerifier, oauth.generateRandomState())
        return withNonceRetry(
          async () =>
            oauth.processAuthorizationCodeResponse(
              as,
              client,
              await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri, codeVerifier, {
                ...options,
                DPoP: key,
              }),
            ),
          { retries: 0 },
        )
      }
      t.equal(await errorCodeOf(redeem(other)), 'invalid_grant', 'another key is refused')
      const result = await redeem(DPoP)
      t.equal(result.token_type, 'dpop')
      t.same(claimsOf(result.access_token).cnf, { jkt: await DPoP.calculateThumbprint() })
    })
  })
}
