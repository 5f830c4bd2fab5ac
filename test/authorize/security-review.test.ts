import t from 'tap'
import { buildTestApp, registerClient, type TestApp, type TestClient } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { PASSWORD, claimsOf, login, registerUser } from '../helpers/users.js'
import {
  CookieJar,
  answerConsent,
  authorizeUrl,
  browse,
  exchangeCode,
  hiddenField,
  pkcePair,
  redirectParams,
  signInOnPage,
  submit,
} from '../helpers/authorize.js'

/** Regression tests for the security review of the authorization-code work (H1, M1, M2, L6). */

const REDIRECT = 'https://app.example.com/callback'
const APP_ORIGIN = 'https://app.example.com'

async function thirdPartyApp(
  testApp: TestApp,
  overrides: Parameters<typeof registerClient>[1] = {},
): Promise<TestClient> {
  return registerClient(testApp, {
    name: 'Some App',
    type: 'public',
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['openid', 'email', 'profile'],
    audiences: [],
    redirectUris: [REDIRECT, 'http://127.0.0.1:8400/cb'],
    ...overrides,
  })
}

/** Runs code + PKCE in a fresh browser and returns the token response body. */
async function tokensFor(testApp: TestApp, client: TestClient, email: string, scope: string) {
  const jar = new CookieJar()
  const { verifier, challenge } = pkcePair()
  const page = await browse(
    testApp,
    jar,
    authorizeUrl({ clientId: client.id, redirectUri: REDIRECT, challenge, scope, state: 's' }),
  )
  let back = await signInOnPage(testApp, jar, page.body, email)
  if (back.statusCode === 200) back = await answerConsent(testApp, jar, back.body, 'allow')
  const res = await exchangeCode(testApp, {
    code: redirectParams(back).get('code')!,
    redirect_uri: REDIRECT,
    code_verifier: verifier,
    client_id: client.id,
  })
  if (res.statusCode !== 200) throw new Error(`token exchange failed: ${res.statusCode} ${res.body}`)
  return res.json() as { access_token: string; id_token: string }
}

for (const dialect of testDialects()) {
  t.test(`security review regressions on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_CORS_ORIGINS: APP_ORIGIN } })
    await registerUser(testApp, 'ada@example.com', PASSWORD, 'Ada Lovelace')
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

    t.test(
      'H1: a third-party app token is refused by the /auth account API and accepted by /oauth/userinfo',
      async (t) => {
        for (const firstParty of [false, true]) {
          const client = await thirdPartyApp(testApp, { firstParty })
          const tokens = await tokensFor(testApp, client, 'ada@example.com', 'openid email')
          const claims = claimsOf(tokens.access_token)
          t.equal(claims.client_id, client.id)
          for (const [method, url] of [
            ['GET', '/auth/me'],
            ['GET', '/auth/sessions'],
            ['POST', '/auth/logout-all'],
            ['GET', '/auth/consents'],
          ] as const) {
            const res = await testApp.app.inject({ method, url, headers: bearer(tokens.access_token) })
            t.equal(
              res.statusCode,
              401,
              `${method} ${url} refuses a token of ${firstParty ? 'a first_party-flagged' : 'a third-party'} app`,
            )
            t.equal(res.json().error, 'invalid_token')
            t.match(res.headers['www-authenticate'], /^Bearer /)
          }
          const deleted = await testApp.app.inject({
            method: 'DELETE',
            url: `/auth/sessions/${String(claims.sid)}`,
            headers: bearer(tokens.access_token),
          })
          t.equal(deleted.statusCode, 401)
          const userinfo = await testApp.app.inject({
            method: 'GET',
            url: '/oauth/userinfo',
            headers: bearer(tokens.access_token),
          })
          t.equal(
            userinfo.statusCode,
            200,
            'userinfo still answers the app (OIDC Core §5.3) - its session was not ended',
          )
          t.same(
            userinfo.json(),
            { sub: claims.sub, email: 'ada@example.com', email_verified: false },
            'claims by scope only: no profile, no name',
          )
        }
        const own = await login(testApp, 'ada@example.com')
        const me = await testApp.app.inject({ method: 'GET', url: '/auth/me', headers: bearer(own.accessToken) })
        t.equal(me.statusCode, 200, "Latchkey's own first-party token still works")
        t.equal(me.json().email, 'ada@example.com')
      },
    )

    t.test("M1: a consent form cannot satisfy prompt=login or max_age with another request's CSRF token", async (t) => {
      const client = await thirdPartyApp(testApp)
      const jar = new CookieJar()
      // Signed in and a consent page for an ordinary request (the sign-in is not fresh for it later).
      const first = await browse(
        testApp,
        jar,
        authorizeUrl({
          clientId: client.id,
          redirectUri: REDIRECT,
          challenge: pkcePair().challenge,
          scope: 'openid',
          state: 'a',
        }),
      )
      const consentPage = await signInOnPage(testApp, jar, first.body, 'ada@example.com')
      t.match(consentPage.body, /action="\/consent"/)
      testApp.clock.advance(60 * 60 * 1000)
      const later = await browse(
        testApp,
        jar,
        authorizeUrl({
          clientId: client.id,
          redirectUri: REDIRECT,
          challenge: pkcePair().challenge,
          scope: 'openid email',
          state: 'b',
        }),
      )
      t.match(later.body, /action="\/consent"/, 'a consent page shown to the hour-old sign-in')

      const strict = authorizeUrl({
        clientId: client.id,
        redirectUri: REDIRECT,
        challenge: pkcePair().challenge,
        scope: 'openid email',
        state: 'c',
        extra: { prompt: 'login', max_age: '0' },
      })
      const strictQuery = strict.slice(strict.indexOf('?') + 1)
      for (const [name, page] of [
        ['the fresh-sign-in consent page of another request', consentPage.body],
        ['a consent page of the current sign-in', later.body],
      ] as const) {
        const exploit = await submit(testApp, jar, '/consent', {
          csrf: hiddenField(page, 'csrf'),
          authorize: strictQuery,
          decision: 'allow',
        })
        t.not(exploit.statusCode, 303, `no code with the token of ${name}`)
        t.equal(exploit.headers.location, undefined)
        t.notMatch(exploit.body, /action="\/consent"/)
      }
      // The token of the current sign-in's own consent page, with its own query, is no fresh sign-in either.
      const sameQuery = await browse(testApp, jar, strict)
      t.match(sameQuery.body, /action="\/signin"/, 'prompt=login asks for the password')
      const laterQuery = hiddenField(later.body, 'authorize')
      const notFresh = await submit(testApp, jar, '/consent', {
        csrf: hiddenField(later.body, 'csrf'),
        authorize: laterQuery,
        decision: 'allow',
      })
      t.equal(notFresh.statusCode, 303, 'the genuine form of a request without prompt=login still works')

      // The honest path: sign in again on the prompt=login page, consent, a code with a fresh auth_time.
      const { verifier, challenge } = pkcePair()
      const honest = await browse(
        testApp,
        jar,
        authorizeUrl({
          clientId: client.id,
          redirectUri: REDIRECT,
          challenge,
          scope: 'openid profile',
          state: 'd',
          extra: { prompt: 'login', max_age: '0' },
        }),
      )
      const honestConsent = await signInOnPage(testApp, jar, honest.body, 'ada@example.com')
      t.match(honestConsent.body, /action="\/consent"/)
      testApp.clock.advance(1000)
      const back = await answerConsent(testApp, jar, honestConsent.body, 'allow')
      t.equal(back.statusCode, 303)
      const tokens = await exchangeCode(testApp, {
        code: redirectParams(back).get('code')!,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
        client_id: client.id,
      })
      t.equal(
        claimsOf(tokens.json().id_token).auth_time,
        Math.floor((testApp.clock.now() - 1000) / 1000),
        'auth_time is the sign-in of this flow',
      )
    })

    t.test('M2: no CORS on the authorization endpoint and hosted pages; CORS kept on the API endpoints', async (t) => {
      const client = await thirdPartyApp(testApp)
      const origin = { origin: APP_ORIGIN }
      const authorize = authorizeUrl({
        clientId: client.id,
        redirectUri: REDIRECT,
        challenge: pkcePair().challenge,
        scope: 'openid',
      })
      for (const url of [authorize, '/signin', '/signup', '/signout']) {
        const res = await testApp.app.inject({ method: 'GET', url, headers: origin })
        t.equal(res.statusCode, 200, url)
        t.equal(res.headers['access-control-allow-origin'], undefined, `no CORS on GET ${url}`)
        t.equal(res.headers['access-control-allow-credentials'], undefined)
      }
      for (const url of ['/oauth/authorize', '/signin', '/consent', '/signout']) {
        const preflight = await testApp.app.inject({
          method: 'OPTIONS',
          url,
          headers: { ...origin, 'access-control-request-method': 'POST' },
        })
        t.equal(preflight.headers['access-control-allow-origin'], undefined, `no preflight for ${url}`)
      }
      const consent = await testApp.app.inject({
        method: 'POST',
        url: '/consent',
        headers: { ...origin, 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'decision=allow',
      })
      t.equal(consent.headers['access-control-allow-origin'], undefined, 'no CORS on POST /consent')

      for (const url of [
        '/auth/me',
        '/oauth/userinfo',
        '/.well-known/jwks.json',
        '/.well-known/openid-configuration',
      ]) {
        const res = await testApp.app.inject({ method: 'GET', url, headers: origin })
        t.equal(res.headers['access-control-allow-origin'], APP_ORIGIN, `CORS on GET ${url}`)
      }
      for (const url of ['/oauth/token', '/oauth/revoke', '/auth/refresh']) {
        const preflight = await testApp.app.inject({
          method: 'OPTIONS',
          url,
          headers: { ...origin, 'access-control-request-method': 'POST' },
        })
        t.equal(preflight.statusCode, 204, `preflight for ${url}`)
        t.equal(preflight.headers['access-control-allow-origin'], APP_ORIGIN)
        t.equal(preflight.headers['access-control-allow-credentials'], 'true')
      }
      const stranger = await testApp.app.inject({
        method: 'GET',
        url: '/auth/me',
        headers: { origin: 'https://evil.example' },
      })
      t.equal(stranger.headers['access-control-allow-origin'], undefined, 'other origins still get nothing')
    })

    t.test("L1: consent covers the audience: a token for another of the client's resources asks again", async (t) => {
      const client = await thirdPartyApp(testApp, {
        scopes: ['openid', 'notes:read'],
        audiences: ['https://notes.example.com', 'https://billing.example.com'],
      })
      const jar = new CookieJar()
      const request = (resource: string | null, prompt?: string) =>
        authorizeUrl({
          clientId: client.id,
          redirectUri: REDIRECT,
          challenge: pkcePair().challenge,
          scope: 'openid notes:read',
          state: 's',
          extra: { ...(resource ? { resource } : {}), ...(prompt ? { prompt } : {}) },
        })
      const page = await browse(testApp, jar, request('https://notes.example.com'))
      const consent = await signInOnPage(testApp, jar, page.body, 'ada@example.com')
      t.match(consent.body, /action="\/consent"/)
      const back = await answerConsent(testApp, jar, consent.body, 'allow')
      t.ok(redirectParams(back).has('code'))

      const same = await browse(testApp, jar, request('https://notes.example.com', 'none'))
      t.ok(redirectParams(same).has('code'), 'the allowed resource needs no new consent')
      const byDefault = await browse(testApp, jar, request(null, 'none'))
      t.ok(redirectParams(byDefault).has('code'), 'nor does the default audience, which is the same resource')
      const other = await browse(testApp, jar, request('https://billing.example.com', 'none'))
      t.equal(
        redirectParams(other).get('error'),
        'consent_required',
        'another resource of the same client needs consent',
      )
      const asked = await browse(testApp, jar, request('https://billing.example.com'))
      t.match(asked.body, /action="\/consent"/, 'and shows the consent page')
      t.ok(redirectParams(await answerConsent(testApp, jar, asked.body, 'allow')).has('code'))
      for (const resource of ['https://notes.example.com', 'https://billing.example.com']) {
        t.ok(
          redirectParams(await browse(testApp, jar, request(resource, 'none'))).has('code'),
          `${resource} is now allowed`,
        )
      }
    })

    t.test(
      'L2: the hosted sign-in ends after the idle timeout, is kept alive by use, and never outlives the absolute lifetime',
      async (t) => {
        const client = await thirdPartyApp(testApp)
        const { refreshTokenIdleTtlMs: idle, refreshTokenTtlMs: total } = testApp.config
        const silent = (jar: CookieJar) =>
          browse(
            testApp,
            jar,
            authorizeUrl({
              clientId: client.id,
              redirectUri: REDIRECT,
              challenge: pkcePair().challenge,
              scope: 'openid',
              state: 's',
              extra: { prompt: 'none' },
            }),
          )
        const signedIn = async () => {
          const jar = new CookieJar()
          const page = await browse(
            testApp,
            jar,
            authorizeUrl({
              clientId: client.id,
              redirectUri: REDIRECT,
              challenge: pkcePair().challenge,
              scope: 'openid',
              state: 's',
            }),
          )
          const consent = await signInOnPage(testApp, jar, page.body, 'ada@example.com')
          if (consent.statusCode === 200) await answerConsent(testApp, jar, consent.body, 'allow')
          t.ok(redirectParams(await silent(jar)).has('code'), 'signed in')
          return jar
        }

        const unused = await signedIn()
        testApp.clock.advance(idle + 1000)
        t.equal(
          redirectParams(await silent(unused)).get('error'),
          'login_required',
          'unused past the idle timeout: signed out',
        )

        const used = await signedIn()
        let elapsed = 0
        while (elapsed + idle / 2 < total) {
          testApp.clock.advance(idle / 2)
          elapsed += idle / 2
          t.ok(
            redirectParams(await silent(used)).has('code'),
            `still signed in after ${elapsed / 86_400_000} days of regular use`,
          )
        }
        testApp.clock.advance(total - elapsed + 1000)
        t.equal(redirectParams(await silent(used)).get('error'), 'login_required', 'never past the absolute lifetime')
      },
    )

    t.test('a signed-in password change ends hosted sign-ins made with the old password', async (t) => {
      await registerUser(testApp, 'grace@example.com')
      const client = await thirdPartyApp(testApp)
      const silent = (jar: CookieJar) =>
        browse(
          testApp,
          jar,
          authorizeUrl({
            clientId: client.id,
            redirectUri: REDIRECT,
            challenge: pkcePair().challenge,
            scope: 'openid',
            state: 's',
            extra: { prompt: 'none' },
          }),
        )
      // Whoever stole the password signs in on the hosted page in their own browser.
      const thief = new CookieJar()
      const page = await browse(
        testApp,
        thief,
        authorizeUrl({
          clientId: client.id,
          redirectUri: REDIRECT,
          challenge: pkcePair().challenge,
          scope: 'openid',
          state: 's',
        }),
      )
      const consent = await signInOnPage(testApp, thief, page.body, 'grace@example.com')
      if (consent.statusCode === 200) await answerConsent(testApp, thief, consent.body, 'allow')
      t.ok(redirectParams(await silent(thief)).has('code'), 'signed in with the stolen password')

      const owner = await login(testApp, 'grace@example.com')
      const changed = await testApp.app.inject({
        method: 'POST',
        url: '/auth/password-change',
        headers: bearer(owner.accessToken),
        payload: { current_password: PASSWORD, new_password: 'the owner takes the account back 2027' },
      })
      t.equal(changed.statusCode, 204)
      t.equal(
        redirectParams(await silent(thief)).get('error'),
        'login_required',
        'the hosted sign-in is over: no more codes for the thief',
      )
      const me = await testApp.app.inject({ method: 'GET', url: '/auth/me', headers: bearer(owner.accessToken) })
      t.equal(me.statusCode, 200, "the owner's own session keeps working")
    })

    t.test('L6: a loopback redirect_uri with an impossible port is refused on the page, not a 500', async (t) => {
      const client = await thirdPartyApp(testApp)
      const jar = new CookieJar()
      for (const uri of ['http://127.0.0.1:99999/cb', 'http://127.0.0.1:65536/cb']) {
        const res = await browse(
          testApp,
          jar,
          authorizeUrl({
            clientId: client.id,
            redirectUri: uri,
            challenge: pkcePair().challenge,
            scope: 'openid',
            state: 's',
          }),
        )
        t.equal(res.statusCode, 400, uri)
        t.equal(res.headers.location, undefined, 'never redirected to an unregistered URI')
        t.match(res.body, /an address it has not registered/)
      }
      const ok = await browse(
        testApp,
        jar,
        authorizeUrl({
          clientId: client.id,
          redirectUri: 'http://127.0.0.1:65535/cb',
          challenge: pkcePair().challenge,
          scope: 'openid',
          state: 's',
        }),
      )
      t.equal(ok.statusCode, 200, 'the highest port still matches (RFC 8252 §7.3)')
    })
  })
}
