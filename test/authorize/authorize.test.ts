import t from 'tap'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { buildTestApp, registerClient, type TestApp, type TestClient } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { PASSWORD, claimsOf, login, registerUser } from '../helpers/users.js'
import { accessTokenHash } from '../../server/tokens/id-token.js'
import { hashOpaqueToken } from '../../server/opaque-token.js'
import { runMaintenance } from '../../server/maintenance.js'
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

const REDIRECT = 'https://app.example.com/callback'
const ISSUER = 'http://localhost:3000'

async function publicApp(testApp: TestApp, overrides: Parameters<typeof registerClient>[1] = {}): Promise<TestClient> {
  return registerClient(testApp, {
    name: 'Notes <Third Party>',
    type: 'public',
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['openid', 'email', 'profile', 'notes:read'],
    audiences: ['https://api.example.com'],
    redirectUris: [REDIRECT, 'http://127.0.0.1:8400/cb', 'com.example.notes:/oauth'],
    ...overrides,
  })
}

/** Signs in on the hosted page and allows the app; returns the redirect to the app. */
async function signInAndConsent(testApp: TestApp, jar: CookieJar, url: string, email: string) {
  const page = await browse(testApp, jar, url)
  const signedIn = await signInOnPage(testApp, jar, page.body, email)
  if (signedIn.statusCode === 200 && signedIn.body.includes('action="/consent"'))
    return answerConsent(testApp, jar, signedIn.body, 'allow')
  return signedIn
}

for (const dialect of testDialects()) {
  t.test(`authorization code with PKCE on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const app = await publicApp(testApp)
    await registerUser(testApp, 'ada@example.com', PASSWORD, 'Ada Lovelace')
    const keys = () => createLocalJWKSet({ keys: testApp.deps.keystore.jwks().keys })

    t.test(
      'a signed-out browser gets the sign-in page, then consent, then a code that exchanges for tokens and an ID token',
      async (t) => {
        const jar = new CookieJar()
        const { verifier, challenge } = pkcePair()
        const page = await browse(
          testApp,
          jar,
          authorizeUrl({
            clientId: app.id,
            redirectUri: REDIRECT,
            challenge,
            scope: 'openid email notes:read',
            state: 'st-1',
            nonce: 'n-1',
          }),
        )
        t.equal(page.statusCode, 200)
        t.match(page.headers['content-type'], /^text\/html/)
        t.match(page.headers['content-security-policy'], /frame-ancestors 'none'/)
        t.match(
          page.headers['content-security-policy'],
          /form-action 'self' https:\/\/app\.example\.com/,
          'the form may redirect to the app',
        )
        t.match(page.headers['content-security-policy'], /default-src 'none'/)
        // Works without JavaScript: the only scripts are the passkey button's (issue 12), and that
        // button stays hidden unless they run; the password form needs none.
        t.same(
          [...page.body.matchAll(/<script\b[^>]*>/g)].map((m) => /src="([^"]*)"/.exec(m[0])?.[1] ?? 'inline'),
          ['/assets/webauthn-browser.js', 'inline'],
          'scripts only for the passkey button',
        )
        t.match(page.body, /<button type="button" id="passkey-button"[^>]*\shidden>/, 'hidden without JavaScript')
        t.match(page.body, /Notes &lt;Third Party&gt;/, 'the client name is escaped')
        t.match(page.body, /href="\/reset-password"/)
        t.ok(jar.cookies.has('__Host-latchkey_csrf'))
        t.match(
          String(page.headers['set-cookie']),
          /__Host-latchkey_csrf=[^;]+; Max-Age=7200; Path=\/; HttpOnly; Secure; SameSite=Strict/,
        )

        const consent = await signInOnPage(testApp, jar, page.body, 'ada@example.com')
        t.equal(consent.statusCode, 200)
        t.match(
          String(consent.headers['set-cookie']),
          /__Host-latchkey_signin=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax/,
        )
        t.match(consent.body, /Allow Notes &lt;Third Party&gt; to access your account\?/)
        t.match(consent.body, /See your email address <code>email<\/code>/)

        const back = await answerConsent(testApp, jar, consent.body, 'allow')
        t.equal(back.statusCode, 303)
        const location = new URL(String(back.headers.location))
        t.equal(`${location.origin}${location.pathname}`, REDIRECT)
        t.same([...location.searchParams.keys()].sort(), ['code', 'iss', 'state'])
        t.equal(location.searchParams.get('state'), 'st-1')
        t.equal(location.searchParams.get('iss'), ISSUER)
        t.ok(Buffer.from(location.searchParams.get('code')!, 'base64url').length >= 32, 'at least 256 bits')

        const res = await exchangeCode(testApp, {
          code: location.searchParams.get('code')!,
          redirect_uri: REDIRECT,
          code_verifier: verifier,
          client_id: app.id,
        })
        t.equal(res.statusCode, 200)
        t.equal(res.headers['cache-control'], 'no-store')
        const body = res.json()
        t.same(Object.keys(body).sort(), [
          'access_token',
          'expires_in',
          'id_token',
          'refresh_token',
          'scope',
          'token_type',
        ])
        t.equal(body.scope, 'openid email notes:read')
        const access = claimsOf(body.access_token)
        t.match(access, {
          aud: 'https://api.example.com',
          client_id: app.id,
          scope: 'openid email notes:read',
          amr: ['pwd'],
          email: 'ada@example.com',
        })

        t.same(decodeProtectedHeader(body.id_token).typ, 'JWT')
        const { payload } = await jwtVerify(body.id_token, keys(), { issuer: ISSUER, audience: app.id, typ: 'JWT' })
        t.equal(payload.nonce, 'n-1')
        t.equal(payload.sub, access.sub)
        t.equal(payload.sid, access.sid)
        t.equal(payload.auth_time, access.auth_time)
        t.equal(payload.at_hash, accessTokenHash(body.access_token, 'ES256'))
        t.equal(payload.email, 'ada@example.com')
        t.notOk('name' in payload, 'no profile scope, no name')

        const userinfo = await testApp.app.inject({
          url: '/oauth/userinfo',
          headers: { authorization: `Bearer ${body.access_token}` },
        })
        t.same(
          userinfo.json(),
          { sub: access.sub, email: 'ada@example.com', email_verified: false },
          'no profile scope, no name',
        )
        const idAsAccess = await testApp.app.inject({
          url: '/oauth/userinfo',
          headers: { authorization: `Bearer ${body.id_token}` },
        })
        t.equal(idAsAccess.statusCode, 401, 'an ID token is never an access token (typ JWT, not at+jwt)')

        const refreshed = await testApp.app.inject({
          method: 'POST',
          url: '/oauth/token',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({
            grant_type: 'refresh_token',
            refresh_token: body.refresh_token,
            client_id: app.id,
          }).toString(),
        })
        t.equal(refreshed.statusCode, 200, 'the refresh token rotates like any other')
        t.equal(claimsOf(refreshed.json().access_token).sid, access.sid)
      },
    )

    t.test('an existing sign-in and a remembered consent go straight back with a code', async (t) => {
      const jar = new CookieJar()
      const first = pkcePair()
      const url = authorizeUrl({
        clientId: app.id,
        redirectUri: REDIRECT,
        challenge: first.challenge,
        scope: 'openid notes:read',
        state: 's',
      })
      t.equal((await signInAndConsent(testApp, jar, url, 'ada@example.com')).statusCode, 303)
      const again = await browse(
        testApp,
        jar,
        authorizeUrl({
          clientId: app.id,
          redirectUri: REDIRECT,
          challenge: pkcePair().challenge,
          scope: 'openid',
          state: 's2',
        }),
      )
      t.equal(again.statusCode, 302, 'no page at all')
      t.equal(redirectParams(again).get('state'), 's2')
      t.ok(redirectParams(again).get('code'))
      const wider = await browse(
        testApp,
        jar,
        authorizeUrl({
          clientId: app.id,
          redirectUri: REDIRECT,
          challenge: pkcePair().challenge,
          scope: 'openid profile',
        }),
      )
      t.equal(wider.statusCode, 200, 'a scope not yet allowed asks again')
      t.match(wider.body, /action="\/consent"/)
      const forced = await browse(
        testApp,
        jar,
        authorizeUrl({
          clientId: app.id,
          redirectUri: REDIRECT,
          challenge: pkcePair().challenge,
          scope: 'openid',
          extra: { prompt: 'consent' },
        }),
      )
      t.match(forced.body, /action="\/consent"/, 'prompt=consent asks again')
    })

    t.test('prompt=login and max_age ask for the password again; prompt=none never shows a page', async (t) => {
      const jar = new CookieJar()
      const url = (extra: Record<string, string>) =>
        authorizeUrl({
          clientId: app.id,
          redirectUri: REDIRECT,
          challenge: pkcePair().challenge,
          scope: 'openid',
          state: 'x',
          extra,
        })
      const none = await browse(testApp, jar, url({ prompt: 'none' }))
      t.equal(none.statusCode, 302)
      t.same(Object.fromEntries(redirectParams(none)), {
        error: 'login_required',
        error_description: 'the user is not signed in',
        state: 'x',
        iss: ISSUER,
      })

      await signInAndConsent(testApp, jar, url({}), 'ada@example.com')
      const login = await browse(testApp, jar, url({ prompt: 'login' }))
      t.equal(login.statusCode, 200)
      t.match(login.body, /action="\/signin"/)
      t.match(login.body, /value="ada@example.com"/, 'the signed-in email is filled in')
      const relogin = await signInOnPage(testApp, jar, login.body, 'ada@example.com')
      t.equal(relogin.statusCode, 303, 'after signing in again the request completes (no loop on prompt=login)')
      const authTime = async (res: Awaited<ReturnType<typeof browse>>, verifierOf: string) => {
        const tokens = await exchangeCode(testApp, {
          code: redirectParams(res).get('code')!,
          redirect_uri: REDIRECT,
          code_verifier: verifierOf,
          client_id: app.id,
        })
        return claimsOf(tokens.json().id_token).auth_time as number
      }

      testApp.clock.advance(120_000)
      const fresh = pkcePair()
      const within = await browse(
        testApp,
        jar,
        authorizeUrl({
          clientId: app.id,
          redirectUri: REDIRECT,
          challenge: fresh.challenge,
          scope: 'openid',
          extra: { max_age: '3600' },
        }),
      )
      t.equal(within.statusCode, 302, 'a sign-in younger than max_age is enough')
      t.equal(
        await authTime(within, fresh.verifier),
        Math.floor((testApp.clock.now() - 120_000) / 1000),
        'auth_time is when the user signed in',
      )
      const tooOld = await browse(testApp, jar, url({ max_age: '60' }))
      t.equal(tooOld.statusCode, 200)
      t.match(tooOld.body, /action="\/signin"/)
      const noneTooOld = await browse(testApp, jar, url({ max_age: '60', prompt: 'none' }))
      t.equal(redirectParams(noneTooOld).get('error'), 'login_required')

      const other = await publicApp(testApp, { name: 'Other' })
      const consentNeeded = await browse(
        testApp,
        jar,
        authorizeUrl({
          clientId: other.id,
          redirectUri: REDIRECT,
          challenge: pkcePair().challenge,
          state: 'y',
          extra: { prompt: 'none' },
        }),
      )
      t.same(Object.fromEntries(redirectParams(consentNeeded)), {
        error: 'consent_required',
        error_description: 'the user has not allowed this app yet',
        state: 'y',
        iss: ISSUER,
      })
    })

    t.test('an app sees the email and name only with the email and profile scopes', async (t) => {
      const jar = new CookieJar()
      const pair = pkcePair()
      const back = await signInAndConsent(
        testApp,
        jar,
        authorizeUrl({
          clientId: app.id,
          redirectUri: REDIRECT,
          challenge: pair.challenge,
          scope: 'openid notes:read',
        }),
        'ada@example.com',
      )
      const tokens = (
        await exchangeCode(testApp, {
          code: redirectParams(back).get('code')!,
          redirect_uri: REDIRECT,
          client_id: app.id,
          code_verifier: pair.verifier,
        })
      ).json()
      t.notOk('email' in claimsOf(tokens.access_token), 'not in the access token')
      t.notOk('email' in claimsOf(tokens.id_token), 'not in the ID token')
      const userinfo = await testApp.app.inject({
        url: '/oauth/userinfo',
        headers: { authorization: `Bearer ${tokens.access_token}` },
      })
      t.same(userinfo.json(), { sub: claimsOf(tokens.access_token).sub }, 'userinfo says only who')
    })

    t.test('a first-party client never shows the consent page', async (t) => {
      const own = await publicApp(testApp, { name: 'Our app', firstParty: true })
      const jar = new CookieJar()
      const page = await browse(
        testApp,
        jar,
        authorizeUrl({ clientId: own.id, redirectUri: REDIRECT, challenge: pkcePair().challenge, scope: 'openid' }),
      )
      const back = await signInOnPage(testApp, jar, page.body, 'ada@example.com')
      t.equal(back.statusCode, 303)
      t.ok(redirectParams(back).get('code'))
    })

    t.test('denying consent returns access_denied to the app', async (t) => {
      const jar = new CookieJar()
      const page = await browse(
        testApp,
        jar,
        authorizeUrl({
          clientId: app.id,
          redirectUri: REDIRECT,
          challenge: pkcePair().challenge,
          scope: 'openid notes:read',
          state: 'd',
          extra: { prompt: 'consent' },
        }),
      )
      const consent = await signInOnPage(testApp, jar, page.body, 'ada@example.com')
      const denied = await answerConsent(testApp, jar, consent.body, 'deny')
      t.equal(denied.statusCode, 303)
      t.same(Object.fromEntries(redirectParams(denied)), {
        error: 'access_denied',
        error_description: 'the user denied the request',
        state: 'd',
        iss: ISSUER,
      })
    })

    t.test(
      'a redirect_uri that is not registered exactly is shown an error page and never redirected to',
      async (t) => {
        const variants = [
          'https://app.example.com/callback/extra',
          'https://app.example.com/callback?x=1',
          'https://APP.example.com/callback',
          'https://app.example.com/Callback',
          'http://app.example.com/callback',
          'https://app.example.com@evil.example/callback',
          'https://good@app.example.com/callback',
          'https://app.example.com/callback/',
          'https://app.example.com/%63allback',
          'https://app.example.com:443/callback',
          'https://app.example.com/callback#frag',
          'https://evil.example/callback',
          'http://127.0.0.1.evil.example:8400/cb',
          'http://127.0.0.1:8400/cb/../cb',
          'http://localhost:8400/cb',
          'com.example.notes:/oauth/other',
        ]
        for (const redirectUri of variants) {
          const res = await browse(
            testApp,
            new CookieJar(),
            authorizeUrl({ clientId: app.id, redirectUri, challenge: pkcePair().challenge, state: 's' }),
          )
          t.equal(res.statusCode, 400, redirectUri)
          t.equal(res.headers.location, undefined, `${redirectUri} is never redirected to`)
          t.match(res.body, /has not registered/)
        }
        const missing = await browse(
          testApp,
          new CookieJar(),
          `/oauth/authorize?response_type=code&client_id=${app.id}`,
        )
        t.equal(missing.statusCode, 400)
        const unknown = await browse(
          testApp,
          new CookieJar(),
          authorizeUrl({ clientId: 'nobody', redirectUri: REDIRECT, challenge: pkcePair().challenge }),
        )
        t.equal(unknown.statusCode, 400)
        t.equal(unknown.headers.location, undefined)
        t.match(unknown.body, /not registered/)
      },
    )

    t.test('a loopback redirect may vary its port only; a private-use scheme matches exactly', async (t) => {
      const jar = new CookieJar()
      await signInAndConsent(
        testApp,
        jar,
        authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge: pkcePair().challenge, scope: 'openid' }),
        'ada@example.com',
      )
      for (const redirectUri of ['http://127.0.0.1:51234/cb', 'http://127.0.0.1/cb', 'com.example.notes:/oauth']) {
        const res = await browse(
          testApp,
          jar,
          authorizeUrl({ clientId: app.id, redirectUri, challenge: pkcePair().challenge, scope: 'openid' }),
        )
        t.equal(res.statusCode, 302, redirectUri)
        t.ok(String(res.headers.location).startsWith(redirectUri + '?code='), redirectUri)
      }
    })

    t.test('errors after a valid redirect_uri go back to it with state and iss', async (t) => {
      const cases: [Record<string, string>, string, string][] = [
        [{ response_type: 'token' }, 'unsupported_response_type', 'only response_type=code is supported'],
        [{ code_challenge: '' }, 'invalid_request', 'code_challenge is required (PKCE with S256)'],
        [{ code_challenge_method: 'plain' }, 'invalid_request', 'code_challenge_method must be S256'],
        [{ code_challenge_method: '' }, 'invalid_request', 'code_challenge_method is required and must be S256'],
        [{ code_challenge: 'short' }, 'invalid_request', 'code_challenge must be 43 base64url characters (S256)'],
        [{ scope: 'openid admin' }, 'invalid_scope', 'scope not allowed for this client: admin'],
        [{ resource: 'https://other.example.com' }, 'invalid_target', 'resource is not allowed for this client'],
        [{ prompt: 'select_account' }, 'invalid_request', 'prompt=select_account is not supported'],
        [{ max_age: '-1' }, 'invalid_request', 'max_age must be a whole number of seconds'],
        [{ request: 'eyJ' }, 'request_not_supported', 'request objects are not supported'],
      ]
      for (const [change, error, description] of cases) {
        const params = new URLSearchParams(
          authorizeUrl({
            clientId: app.id,
            redirectUri: REDIRECT,
            challenge: pkcePair().challenge,
            state: 'keep',
          }).split('?')[1],
        )
        for (const [k, v] of Object.entries(change)) params.set(k, v)
        const res = await browse(testApp, new CookieJar(), `/oauth/authorize?${params}`)
        t.equal(res.statusCode, 302, error)
        t.same(Object.fromEntries(redirectParams(res)), {
          error,
          error_description: description,
          state: 'keep',
          iss: ISSUER,
        })
      }
      const repeated = await browse(
        testApp,
        new CookieJar(),
        `${authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge: pkcePair().challenge })}&scope=openid&scope=email`,
      )
      t.equal(redirectParams(repeated).get('error'), 'invalid_request')
      const machine = await registerClient(testApp, { grantTypes: ['client_credentials'], redirectUris: [REDIRECT] })
      const notAllowed = await browse(
        testApp,
        new CookieJar(),
        authorizeUrl({ clientId: machine.id, redirectUri: REDIRECT, challenge: pkcePair().challenge }),
      )
      t.equal(redirectParams(notAllowed).get('error'), 'unauthorized_client')
    })

    t.test('the code exchange checks client, redirect_uri and the PKCE verifier', async (t) => {
      const jar = new CookieJar()
      await signInAndConsent(
        testApp,
        jar,
        authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge: pkcePair().challenge, scope: 'openid' }),
        'ada@example.com',
      )
      const fresh = async () => {
        const pair = pkcePair()
        const res = await browse(
          testApp,
          jar,
          authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge: pair.challenge, scope: 'openid' }),
        )
        return { code: redirectParams(res).get('code')!, verifier: pair.verifier }
      }
      const expectError = async (
        fields: Record<string, string>,
        status: number,
        body: Record<string, string>,
        name: string,
      ) => {
        const res = await exchangeCode(testApp, fields)
        t.equal(res.statusCode, status, name)
        t.same(res.json(), body, name)
      }
      let c = await fresh()
      await expectError(
        { code: c.code, redirect_uri: REDIRECT, client_id: app.id },
        400,
        { error: 'invalid_grant', error_description: 'code_verifier is required: the code was issued for PKCE' },
        'PKCE downgrade: no verifier',
      )
      await expectError(
        { code: c.code, redirect_uri: REDIRECT, client_id: app.id, code_verifier: 'short' },
        400,
        {
          error: 'invalid_request',
          error_description: 'code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~',
        },
        'malformed verifier',
      )
      await expectError(
        { code: c.code, redirect_uri: REDIRECT, client_id: app.id, code_verifier: 'x'.repeat(129) },
        400,
        {
          error: 'invalid_request',
          error_description: 'code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~',
        },
        'verifier too long',
      )
      await expectError(
        { code: c.code, redirect_uri: REDIRECT, client_id: app.id, code_verifier: pkcePair().verifier },
        400,
        { error: 'invalid_grant', error_description: 'code_verifier does not match the code_challenge' },
        'wrong verifier',
      )
      await expectError(
        { code: c.code, redirect_uri: REDIRECT, client_id: app.id, code_verifier: c.verifier },
        400,
        { error: 'invalid_grant', error_description: 'authorization code is invalid, expired or already used' },
        'a failed exchange used the code up',
      )

      c = await fresh()
      await expectError(
        { code: c.code, redirect_uri: `${REDIRECT}/`, client_id: app.id, code_verifier: c.verifier },
        400,
        { error: 'invalid_grant', error_description: 'redirect_uri does not match the authorization request' },
        'redirect_uri',
      )
      c = await fresh()
      await expectError(
        { code: c.code, client_id: app.id, code_verifier: c.verifier },
        400,
        { error: 'invalid_request', error_description: 'redirect_uri is required' },
        'no redirect_uri',
      )
      const other = await publicApp(testApp, { name: 'Other' })
      await expectError(
        { code: c.code, redirect_uri: REDIRECT, client_id: other.id, code_verifier: c.verifier },
        400,
        { error: 'invalid_grant', error_description: 'authorization code is invalid, expired or already used' },
        'another client',
      )
      await expectError(
        { code: 'nonsense', redirect_uri: REDIRECT, client_id: app.id, code_verifier: c.verifier },
        400,
        { error: 'invalid_grant', error_description: 'authorization code is invalid, expired or already used' },
        'unknown code',
      )

      c = await fresh()
      testApp.clock.advance(61_000)
      await expectError(
        { code: c.code, redirect_uri: REDIRECT, client_id: app.id, code_verifier: c.verifier },
        400,
        { error: 'invalid_grant', error_description: 'authorization code is invalid, expired or already used' },
        'after 60 s',
      )
    })

    t.test('a confidential client must authenticate to exchange its code', async (t) => {
      const confidential = await registerClient(testApp, {
        grantTypes: ['authorization_code'],
        scopes: ['openid'],
        redirectUris: [REDIRECT],
        firstParty: true,
      })
      const jar = new CookieJar()
      const pair = pkcePair()
      const back = await signInAndConsent(
        testApp,
        jar,
        authorizeUrl({ clientId: confidential.id, redirectUri: REDIRECT, challenge: pair.challenge, scope: 'openid' }),
        'ada@example.com',
      )
      const code = redirectParams(back).get('code')!
      const anonymous = await exchangeCode(testApp, {
        code,
        redirect_uri: REDIRECT,
        client_id: confidential.id,
        code_verifier: pair.verifier,
      })
      t.equal(anonymous.statusCode, 401)
      t.equal(anonymous.json().error, 'invalid_client')
      const res = await exchangeCode(
        testApp,
        { code, redirect_uri: REDIRECT, code_verifier: pair.verifier },
        confidential.basic,
      )
      t.equal(res.statusCode, 200)
      t.notOk('refresh_token' in res.json(), 'no refresh_token grant, no refresh token')
    })

    t.test('a code used twice fails and revokes what its first use issued', async (t) => {
      const jar = new CookieJar()
      const pair = pkcePair()
      const back = await signInAndConsent(
        testApp,
        jar,
        authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge: pair.challenge, scope: 'openid' }),
        'ada@example.com',
      )
      const fields = {
        code: redirectParams(back).get('code')!,
        redirect_uri: REDIRECT,
        client_id: app.id,
        code_verifier: pair.verifier,
      }
      const first = await exchangeCode(testApp, fields)
      t.equal(first.statusCode, 200)
      const userinfo = () =>
        testApp.app.inject({
          url: '/oauth/userinfo',
          headers: { authorization: `Bearer ${first.json().access_token}` },
        })
      t.equal((await userinfo()).statusCode, 200)
      const second = await exchangeCode(testApp, fields)
      t.equal(second.statusCode, 400)
      t.same(second.json(), {
        error: 'invalid_grant',
        error_description: 'authorization code is invalid, expired or already used',
      })
      t.equal((await userinfo()).statusCode, 401, 'the access token from the first use is revoked')
      const refresh = await testApp.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: first.json().refresh_token,
          client_id: app.id,
        }).toString(),
      })
      t.same(refresh.json(), { error: 'invalid_grant', error_description: 'refresh token has been revoked' })
    })

    t.test('concurrent exchanges of one code: at most one gets tokens, and they are revoked', async (t) => {
      const jar = new CookieJar()
      const pair = pkcePair()
      const back = await signInAndConsent(
        testApp,
        jar,
        authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge: pair.challenge, scope: 'openid' }),
        'ada@example.com',
      )
      const fields = {
        code: redirectParams(back).get('code')!,
        redirect_uri: REDIRECT,
        client_id: app.id,
        code_verifier: pair.verifier,
      }
      const results = await Promise.all(Array.from({ length: 5 }, () => exchangeCode(testApp, fields)))
      const ok = results.filter((r) => r.statusCode === 200)
      t.ok(ok.length <= 1, 'never two token sets for one code')
      for (const failed of results.filter((r) => r.statusCode !== 200))
        t.same(failed.json(), {
          error: 'invalid_grant',
          error_description: 'authorization code is invalid, expired or already used',
        })
      // A replay landing while the first exchange is still opening its session fails that exchange too.
      for (const winner of ok) {
        const userinfo = await testApp.app.inject({
          url: '/oauth/userinfo',
          headers: { authorization: `Bearer ${winner.json().access_token}` },
        })
        t.equal(userinfo.statusCode, 401, 'the replay revoked the tokens')
      }
      const code = await testApp.deps.db
        .selectFrom('authorization_codes')
        .select('session_id')
        .where('code_hash', '=', hashOpaqueToken(fields.code))
        .executeTakeFirstOrThrow()
      const session = await testApp.deps.db
        .selectFrom('sessions')
        .select('revoked_at')
        .where('id', '=', code.session_id!)
        .executeTakeFirst()
      t.ok(session === undefined || session.revoked_at !== null, 'no live session is left from this code')
    })

    t.test('forms without the right CSRF token are refused', async (t) => {
      const jar = new CookieJar()
      const page = await browse(
        testApp,
        jar,
        authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge: pkcePair().challenge }),
      )
      const authorize = hiddenField(page.body, 'authorize')
      const csrf = hiddenField(page.body, 'csrf')
      for (const [name, fields, cookies] of [
        ['no token', { authorize, email: 'ada@example.com', password: PASSWORD }, jar],
        ['a forged token', { csrf: 'x'.repeat(43), authorize, email: 'ada@example.com', password: PASSWORD }, jar],
        ['no cookie', { csrf, authorize, email: 'ada@example.com', password: PASSWORD }, new CookieJar()],
      ] as const) {
        const res = await submit(testApp, cookies, '/signin', fields)
        t.equal(res.statusCode, 403, name)
        t.notOk(String(res.headers['set-cookie'] ?? '').includes('latchkey_signin'), `${name}: not signed in`)
      }
      const consentToken = await submit(testApp, jar, '/signin', {
        csrf: hiddenField((await browse(testApp, jar, '/oauth/authorize?' + authorize)).body, 'csrf'),
        authorize,
        email: 'ada@example.com',
        password: PASSWORD,
      })
      const wrongPurpose = await submit(testApp, jar, '/consent', { csrf, authorize, decision: 'allow' })
      t.equal(wrongPurpose.statusCode, 403, 'a sign-in token does not work for consent')
      t.equal(consentToken.statusCode, 200)
    })

    t.test('a wrong password shows the page again with one message for every failure', async (t) => {
      const jar = new CookieJar()
      const page = await browse(
        testApp,
        jar,
        authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge: pkcePair().challenge }),
      )
      for (const email of ['ada@example.com', 'nobody@example.com']) {
        const res = await signInOnPage(testApp, jar, page.body, email, 'wrong password entirely')
        t.equal(res.statusCode, 401)
        t.match(res.body, /The email or password is incorrect\./)
        t.match(res.body, /role="alert"/)
        t.notOk(jar.cookies.has('__Host-latchkey_signin'))
      }
    })

    t.test('registration on the hosted page answers alike for new and taken addresses, then signs in', async (t) => {
      const jar = new CookieJar()
      const url = authorizeUrl({
        clientId: app.id,
        redirectUri: REDIRECT,
        challenge: pkcePair().challenge,
        scope: 'openid',
      })
      const signinPage = await browse(testApp, jar, url)
      const signupLink = /href="(\/signup\?authorize=[^"]+)"/.exec(signinPage.body)![1]!.replace(/&amp;/g, '&')
      const signup = await browse(testApp, jar, signupLink)
      t.equal(signup.statusCode, 200)
      t.match(signup.body, /autocomplete="new-password"/)
      const register = (email: string) =>
        submit(testApp, jar, '/signup', {
          csrf: hiddenField(signup.body, 'csrf'),
          authorize: hiddenField(signup.body, 'authorize'),
          email,
          password: 'a brand new passphrase 7',
        })
      const created = await register('grace@example.com')
      const taken = await register('ada@example.com')
      t.equal(created.statusCode, 200)
      t.equal(taken.statusCode, 200)
      const strip = (body: string) =>
        body
          .replace(/value="[^"]*"/g, '')
          .replace(/nonce-[^']+/g, '')
          .replace(/nonce="[^"]*"/g, '')
      t.equal(strip(created.body), strip(taken.body), 'no account enumeration')
      const weak = await submit(testApp, jar, '/signup', {
        csrf: hiddenField(signup.body, 'csrf'),
        email: 'weak@example.com',
        password: 'short',
      })
      t.equal(weak.statusCode, 400)
      t.match(weak.body, /role="alert"/)
      const consent = await signInOnPage(testApp, jar, created.body, 'grace@example.com', 'a brand new passphrase 7')
      t.match(consent.body, /action="\/consent"/)
    })

    t.test("consent can be listed and withdrawn, which ends the app's sessions", async (t) => {
      await registerUser(testApp, 'linus@example.com')
      const jar = new CookieJar()
      const pair = pkcePair()
      const back = await signInAndConsent(
        testApp,
        jar,
        authorizeUrl({
          clientId: app.id,
          redirectUri: REDIRECT,
          challenge: pair.challenge,
          scope: 'openid notes:read',
        }),
        'linus@example.com',
      )
      const tokens = (
        await exchangeCode(testApp, {
          code: redirectParams(back).get('code')!,
          redirect_uri: REDIRECT,
          client_id: app.id,
          code_verifier: pair.verifier,
        })
      ).json()
      const { accessToken } = await login(testApp, 'linus@example.com')
      const sessions = await testApp.app.inject({
        url: '/auth/sessions',
        headers: { authorization: `Bearer ${accessToken}` },
      })
      t.match(
        sessions.json().sessions.find((s: { client_id: string }) => s.client_id === app.id),
        { client_id: app.id, user_agent: 'lightMyRequest', ip: /^10\./ },
        "the app's session is listed with the browser that signed in",
      )
      const list = await testApp.app.inject({
        url: '/auth/consents',
        headers: { authorization: `Bearer ${accessToken}` },
      })
      t.equal(list.statusCode, 200)
      t.match(list.json(), {
        consents: [{ client_id: app.id, client_name: 'Notes <Third Party>', scope: 'openid notes:read' }],
      })
      const withdraw = await testApp.app.inject({
        method: 'DELETE',
        url: `/auth/consents/${app.id}`,
        headers: { authorization: `Bearer ${accessToken}` },
      })
      t.equal(withdraw.statusCode, 204)
      const userinfo = await testApp.app.inject({
        url: '/oauth/userinfo',
        headers: { authorization: `Bearer ${tokens.access_token}` },
      })
      t.equal(userinfo.statusCode, 401, 'the app lost access')
      const again = await testApp.app.inject({
        method: 'DELETE',
        url: `/auth/consents/${app.id}`,
        headers: { authorization: `Bearer ${accessToken}` },
      })
      t.equal(again.statusCode, 404)
      const ask = await browse(
        testApp,
        jar,
        authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge: pkcePair().challenge, scope: 'openid' }),
      )
      t.match(ask.body, /action="\/consent"/, 'the app must ask again')
    })

    t.test('signing out ends the hosted sign-in and may return to a registered address', async (t) => {
      const jar = new CookieJar()
      await signInAndConsent(
        testApp,
        jar,
        authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge: pkcePair().challenge, scope: 'openid' }),
        'ada@example.com',
      )
      const evil = await browse(
        testApp,
        jar,
        `/signout?client_id=${app.id}&post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`,
      )
      t.notMatch(evil.body, /post_logout_redirect_uri/, 'an unregistered address is dropped')
      const page = await browse(
        testApp,
        jar,
        `/signout?client_id=${app.id}&post_logout_redirect_uri=${encodeURIComponent(REDIRECT)}`,
      )
      t.match(page.body, /signed in as <strong>ada@example.com<\/strong>/)
      const res = await submit(testApp, jar, '/signout', {
        csrf: hiddenField(page.body, 'csrf'),
        client_id: hiddenField(page.body, 'client_id'),
        post_logout_redirect_uri: hiddenField(page.body, 'post_logout_redirect_uri'),
      })
      t.equal(res.statusCode, 303)
      t.equal(res.headers.location, REDIRECT)
      t.notOk(jar.cookies.has('__Host-latchkey_signin'))
      const none = await browse(
        testApp,
        jar,
        authorizeUrl({
          clientId: app.id,
          redirectUri: REDIRECT,
          challenge: pkcePair().challenge,
          scope: 'openid',
          extra: { prompt: 'none' },
        }),
      )
      t.equal(redirectParams(none).get('error'), 'login_required')
    })

    t.test('the authorization request may also be a form post (OIDC Core §3.1.2.1)', async (t) => {
      const jar = new CookieJar()
      await signInAndConsent(
        testApp,
        jar,
        authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge: pkcePair().challenge, scope: 'openid' }),
        'ada@example.com',
      )
      const query = authorizeUrl({
        clientId: app.id,
        redirectUri: REDIRECT,
        challenge: pkcePair().challenge,
        scope: 'openid',
        state: 'p',
      }).split('?')[1]!
      const res = await submit(testApp, jar, '/oauth/authorize', Object.fromEntries(new URLSearchParams(query)))
      t.equal(res.statusCode, 303)
      t.equal(redirectParams(res).get('state'), 'p')
      t.ok(redirectParams(res).get('code'))
    })

    t.test('errors on the hosted pages are pages too, never JSON', async (t) => {
      const jar = new CookieJar()
      const page = await browse(testApp, jar, '/signin')
      const repeated = await testApp.app.inject({
        method: 'POST',
        url: '/signin',
        headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
        payload: `csrf=${hiddenField(page.body, 'csrf')}&email=a%40example.com&email=b%40example.com&password=x`,
      })
      t.equal(repeated.statusCode, 400)
      t.match(repeated.headers['content-type'], /^text\/html/)
      t.match(repeated.body, /Parameter email is repeated\./)
      t.match(repeated.headers['content-security-policy'], /frame-ancestors 'none'/)
    })

    t.test("signing in again replaces the browser's previous sign-in", async (t) => {
      const jar = new CookieJar()
      const url = authorizeUrl({
        clientId: app.id,
        redirectUri: REDIRECT,
        challenge: pkcePair().challenge,
        scope: 'openid',
      })
      await signInAndConsent(testApp, jar, url, 'ada@example.com')
      const first = jar.cookies.get('__Host-latchkey_signin')!
      const again = await browse(
        testApp,
        jar,
        authorizeUrl({
          clientId: app.id,
          redirectUri: REDIRECT,
          challenge: pkcePair().challenge,
          scope: 'openid',
          extra: { prompt: 'login' },
        }),
      )
      t.equal((await signInOnPage(testApp, jar, again.body, 'ada@example.com')).statusCode, 303)
      t.not(jar.cookies.get('__Host-latchkey_signin'), first, 'a fresh value')
      const stale = new CookieJar()
      stale.cookies.set('__Host-latchkey_signin', first)
      const none = await browse(
        testApp,
        stale,
        authorizeUrl({
          clientId: app.id,
          redirectUri: REDIRECT,
          challenge: pkcePair().challenge,
          scope: 'openid',
          extra: { prompt: 'none' },
        }),
      )
      t.equal(redirectParams(none).get('error'), 'login_required', 'the old value no longer signs anyone in')
    })

    t.test('logout-all ends the hosted sign-in too', async (t) => {
      await registerUser(testApp, 'barbara@example.com')
      const jar = new CookieJar()
      await signInAndConsent(
        testApp,
        jar,
        authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge: pkcePair().challenge, scope: 'openid' }),
        'barbara@example.com',
      )
      const { accessToken } = await login(testApp, 'barbara@example.com')
      testApp.clock.advance(1000)
      await testApp.app.inject({
        method: 'POST',
        url: '/auth/logout-all',
        headers: { authorization: `Bearer ${accessToken}` },
      })
      const none = await browse(
        testApp,
        jar,
        authorizeUrl({
          clientId: app.id,
          redirectUri: REDIRECT,
          challenge: pkcePair().challenge,
          scope: 'openid',
          extra: { prompt: 'none' },
        }),
      )
      t.equal(redirectParams(none).get('error'), 'login_required')
    })
  })
}

t.test('a rate-limited sign-in form answers with a page', async (t) => {
  const testApp = await buildTestApp(t)
  const jar = new CookieJar()
  const page = await browse(testApp, jar, '/signin')
  let attempt = 0
  const post = () =>
    testApp.app.inject({
      method: 'POST',
      url: '/signin',
      headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      // A new address each time: the per-account back-off stays out of the way of the per-IP limit.
      payload: new URLSearchParams({
        csrf: hiddenField(page.body, 'csrf'),
        email: `nobody${attempt++}@example.com`,
        password: 'wrong password here',
      }).toString(),
      remoteAddress: '10.200.0.1',
    })
  let res = await post()
  for (let i = 0; i < 12 && res.statusCode !== 429; i++) res = await post()
  t.equal(res.statusCode, 429)
  t.match(res.headers['content-type'], /^text\/html/)
  t.match(res.headers['retry-after'], /^\d+$/)
  t.match(res.body, /Too many requests, retry after \d+ seconds\./)
})

t.test('maintenance forgets codes ten minutes after they expire', async (t) => {
  const testApp = await buildTestApp(t)
  const app = await publicApp(testApp)
  await registerUser(testApp, 'ada@example.com')
  const jar = new CookieJar()
  const back = await signInAndConsent(
    testApp,
    jar,
    authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge: pkcePair().challenge, scope: 'openid' }),
    'ada@example.com',
  )
  t.ok(redirectParams(back).get('code'))
  const count = async () =>
    Number(
      (
        await testApp.deps.db
          .selectFrom('authorization_codes')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    )
  testApp.clock.advance(60_000 + 9 * 60_000)
  await runMaintenance(testApp.deps)
  t.equal(await count(), 1, 'kept for replay detection')
  testApp.clock.advance(2 * 60_000)
  await runMaintenance(testApp.deps)
  t.equal(await count(), 0)
})
