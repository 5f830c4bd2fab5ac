import t from 'tap'
import { SignJWT, createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose'
import {
  buildTestApp,
  registerClient,
  type TestApp,
  type TestAppOptions,
  type TestClient,
} from '../helpers/build-test-app.js'
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
import { testDialects } from '../helpers/test-database.js'
import { claimsOf, registerUser } from '../helpers/users.js'
import { adminAccess } from '../helpers/admin.js'

// OpenID Connect RP-Initiated Logout 1.0 at /oauth/logout, ID tokens on refresh (OIDC Core §12.2)
// and the openid-only UserInfo endpoint, through HTTP on the real app.

const REDIRECT = 'https://rp.example.com/cb'
const LOGGED_OUT = 'https://rp.example.com/logged-out'

interface AppTokens {
  access_token: string
  refresh_token: string
  id_token: string
}

async function setup(t: Tap, options: TestAppOptions) {
  const testApp = await buildTestApp(t, options)
  await registerUser(testApp, 'ada@example.com')
  await registerUser(testApp, 'bob@example.com')
  const rp = await registerClient(testApp, {
    name: 'Notes',
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['openid', 'email'],
    audiences: [],
    redirectUris: [REDIRECT],
    postLogoutRedirectUris: [LOGGED_OUT],
    firstParty: true,
  })
  const other = await registerClient(testApp, {
    name: 'Calendar',
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['openid', 'email'],
    audiences: [],
    redirectUris: [REDIRECT],
    firstParty: true,
  })
  return { testApp, rp, other }
}
type Tap = Parameters<typeof buildTestApp>[0]

/** A browser signs in to an app through /oauth/authorize (or goes straight through when signed in). */
async function openApp(
  testApp: TestApp,
  jar: CookieJar,
  client: TestClient,
  email = 'ada@example.com',
  scope = 'openid email',
): Promise<AppTokens> {
  const { verifier, challenge } = pkcePair()
  let res = await browse(testApp, jar, authorizeUrl({ clientId: client.id, redirectUri: REDIRECT, challenge, scope }))
  if (res.statusCode === 200) res = await signInOnPage(testApp, jar, res.body, email)
  const code = redirectParams(res).get('code')
  if (code === null) throw new Error(`no code: ${res.statusCode} ${res.body}`)
  const tokens = await exchangeCode(testApp, { code, redirect_uri: REDIRECT, code_verifier: verifier }, client.basic)
  if (tokens.statusCode !== 200) throw new Error(`exchange failed: ${tokens.body}`)
  return tokens.json<AppTokens>()
}

function refresh(testApp: TestApp, client: TestClient, refreshToken: string) {
  return testApp.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: client.basic },
    payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
  })
}

const logoutUrl = (params: Record<string, string>) => `/oauth/logout?${new URLSearchParams(params).toString()}`

/** Whether the browser is still signed in at the hosted pages (authorize shows no sign-in page). */
async function isSignedIn(testApp: TestApp, jar: CookieJar, client: TestClient): Promise<boolean> {
  const { challenge } = pkcePair()
  const res = await browse(testApp, jar, authorizeUrl({ clientId: client.id, redirectUri: REDIRECT, challenge }))
  return res.statusCode === 302
}

for (const dialect of testDialects()) {
  t.test(`RP-initiated logout on ${dialect}`, async (t) => {
    t.test('the metadata names the end_session_endpoint and back-channel logout', async (t) => {
      const { testApp } = await setup(t, { dialect })
      const res = await testApp.app.inject({ url: '/.well-known/openid-configuration' })
      const metadata = res.json<Record<string, unknown>>()
      t.equal(metadata.end_session_endpoint, `${testApp.config.issuer}/oauth/logout`)
      t.equal(metadata.backchannel_logout_supported, true)
      t.equal(metadata.backchannel_logout_session_supported, true)
    })

    t.test(
      'a valid id_token_hint signs out at once: the sign-in and the app sessions it opened end, the browser returns with state',
      async (t) => {
        const { testApp, rp, other } = await setup(t, { dialect })
        const jar = new CookieJar()
        const notes = await openApp(testApp, jar, rp)
        const calendar = await openApp(testApp, jar, other)
        // The same user in another browser: that sign-in and its session are not this logout's.
        const elsewhere = await openApp(testApp, new CookieJar(), rp)

        const res = await browse(
          testApp,
          jar,
          logoutUrl({ id_token_hint: notes.id_token, post_logout_redirect_uri: LOGGED_OUT, state: 'af0ifjsldkj' }),
        )
        t.equal(res.statusCode, 302)
        t.equal(res.headers.location, `${LOGGED_OUT}?state=af0ifjsldkj`)
        t.equal(await isSignedIn(testApp, jar, rp), false, 'the hosted sign-in ended')
        t.equal((await refresh(testApp, rp, notes.refresh_token)).statusCode, 400, 'the hinted app session ended')
        t.equal((await refresh(testApp, other, calendar.refresh_token)).statusCode, 400, 'so did the other app')
        t.equal((await refresh(testApp, rp, elsewhere.refresh_token)).statusCode, 200, 'the other browser stays')
      },
    )

    t.test("a hint of one user ends that user's sign-in, never another user's in this browser", async (t) => {
      const { testApp, rp } = await setup(t, { dialect })
      const adaJar = new CookieJar()
      const ada = await openApp(testApp, adaJar, rp)
      const bobJar = new CookieJar()
      const bob = await openApp(testApp, bobJar, rp, 'bob@example.com')
      const res = await browse(testApp, bobJar, logoutUrl({ id_token_hint: ada.id_token }))
      t.equal(res.statusCode, 200)
      t.match(res.body, /You are signed out/)
      t.equal(await isSignedIn(testApp, adaJar, rp), false, "ada's sign-in ended")
      t.equal((await refresh(testApp, rp, ada.refresh_token)).statusCode, 400)
      t.equal(await isSignedIn(testApp, bobJar, rp), true, 'bob stays signed in here')
      t.equal((await refresh(testApp, rp, bob.refresh_token)).statusCode, 200)
    })

    t.test('an expired hint is still honoured; POST works like GET', async (t) => {
      const { testApp, rp } = await setup(t, { dialect })
      const jar = new CookieJar()
      const notes = await openApp(testApp, jar, rp)
      testApp.clock.advance(60 * 60_000)
      const res = await testApp.app.inject({
        method: 'POST',
        url: '/oauth/logout',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          id_token_hint: notes.id_token,
          post_logout_redirect_uri: LOGGED_OUT,
        }).toString(),
      })
      t.equal(res.statusCode, 303)
      t.equal(res.headers.location, LOGGED_OUT)
      t.equal(
        res.headers['set-cookie'],
        undefined,
        'no cookie came, so none is cleared: whose browser this is cannot be told',
      )
      t.equal(await isSignedIn(testApp, jar, rp), false, 'the sign-in the hint names ended, without its cookie')
    })

    // Regression: a cross-site POST carries no SameSite=Lax sign-in cookie, and the sign-in cookie
    // was cleared anyway, so anyone's own ID token as id_token_hint signed out every visitor.
    t.test("a cross-site POST with another user's hint leaves this browser's sign-in cookie alone", async (t) => {
      const { testApp, rp } = await setup(t, { dialect })
      const attacker = await openApp(testApp, new CookieJar(), rp, 'bob@example.com')
      const victimJar = new CookieJar()
      const victim = await openApp(testApp, victimJar, rp)
      for (let attempt = 0; attempt < 2; attempt++) {
        const res = await testApp.app.inject({
          method: 'POST',
          url: '/oauth/logout',
          // No cookie header: the browser leaves the SameSite=Lax cookie off a cross-site POST.
          headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
          payload: new URLSearchParams({ id_token_hint: attacker.id_token }).toString(),
        })
        t.equal(res.statusCode, 200)
        t.equal(res.headers['set-cookie'], undefined, "the victim's sign-in cookie is not cleared")
        victimJar.take(res)
        t.equal(await isSignedIn(testApp, victimJar, rp), true, 'the victim stays signed in')
      }
      t.equal((await refresh(testApp, rp, victim.refresh_token)).statusCode, 200, "the victim's app session lives")
    })

    t.test('a hint that is not our ID token for that app is refused and nothing ends', async (t) => {
      const { testApp, rp, other } = await setup(t, { dialect })
      const jar = new CookieJar()
      const notes = await openApp(testApp, jar, rp)
      const { privateKey, publicKey } = await generateKeyPair('ES256')
      const claims = claimsOf(notes.id_token)
      const forged = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: (await exportJWK(publicKey)).kid ?? 'x' })
        .sign(privateKey)
      const refusals: Array<[string, Record<string, string>]> = [
        ['a token signed with another key', { id_token_hint: forged }],
        ['an access token', { id_token_hint: notes.access_token }],
        ['garbage', { id_token_hint: 'not.a.jwt' }],
        ['client_id other than its audience', { id_token_hint: notes.id_token, client_id: other.id }],
        [
          'an unregistered post_logout_redirect_uri',
          { id_token_hint: notes.id_token, post_logout_redirect_uri: 'https://evil.example/' },
        ],
        [
          'a redirect_uri that is not a post-logout one',
          { id_token_hint: notes.id_token, post_logout_redirect_uri: REDIRECT },
        ],
        ['a post_logout_redirect_uri without client', { post_logout_redirect_uri: LOGGED_OUT }],
        ['an unknown client', { client_id: 'nobody', post_logout_redirect_uri: LOGGED_OUT }],
      ]
      for (const [what, params] of refusals) {
        const res = await browse(testApp, jar, logoutUrl(params))
        t.equal(res.statusCode, 400, what)
        t.equal(res.headers.location, undefined, `${what}: no redirect`)
        t.match(res.body, /sign-out request is invalid/, what)
      }
      t.equal(await isSignedIn(testApp, jar, rp), true, 'still signed in')
      t.equal((await refresh(testApp, rp, notes.refresh_token)).statusCode, 200, 'the app session lives')
    })

    t.test('a hint of another issuer is refused', async (t) => {
      const { testApp, rp } = await setup(t, { dialect, env: {} })
      const jar = new CookieJar()
      const notes = await openApp(testApp, jar, rp)
      // Same database and keys, another issuer: its ID tokens are not for this server.
      const elsewhere = await buildTestApp(t, {
        database: testApp.database,
        dataDir: testApp.dataDir,
        env: { LATCHKEY_ISSUER: 'https://elsewhere.example.com' },
      })
      const foreign = await openApp(elsewhere, new CookieJar(), rp)
      t.equal(claimsOf(foreign.id_token).iss, 'https://elsewhere.example.com')
      const res = await browse(testApp, jar, logoutUrl({ id_token_hint: foreign.id_token }))
      t.equal(res.statusCode, 400)
      t.equal((await refresh(testApp, rp, notes.refresh_token)).statusCode, 200)
    })

    t.test('without a hint a confirmation page asks first, with a CSRF-protected form', async (t) => {
      const { testApp, rp } = await setup(t, { dialect })
      const jar = new CookieJar()
      const notes = await openApp(testApp, jar, rp)
      const page = await browse(
        testApp,
        jar,
        logoutUrl({ client_id: rp.id, post_logout_redirect_uri: LOGGED_OUT, state: 's1' }),
      )
      t.equal(page.statusCode, 200)
      t.match(page.body, /Sign out\?/)
      t.match(page.body, /ada@example\.com/)
      t.match(String(page.headers['content-security-policy']), /form-action 'self' https:\/\/rp\.example\.com/)
      t.equal(await isSignedIn(testApp, jar, rp), true, 'asking ends nothing')

      const fields = {
        csrf: hiddenField(page.body, 'csrf'),
        client_id: hiddenField(page.body, 'client_id'),
        post_logout_redirect_uri: hiddenField(page.body, 'post_logout_redirect_uri'),
        state: hiddenField(page.body, 'state'),
      }
      const forged = await submit(testApp, new CookieJar(), '/oauth/logout/confirm', fields)
      t.equal(forged.statusCode, 403, 'a form posted from another browser is refused')
      const swapped = await submit(testApp, jar, '/oauth/logout/confirm', { ...fields, state: 'other' })
      t.equal(swapped.statusCode, 403, 'the token covers the request it carries')
      t.equal(await isSignedIn(testApp, jar, rp), true)

      const done = await submit(testApp, jar, '/oauth/logout/confirm', fields)
      t.equal(done.statusCode, 303)
      t.equal(done.headers.location, `${LOGGED_OUT}?state=s1`)
      t.equal(await isSignedIn(testApp, jar, rp), false)
      t.equal((await refresh(testApp, rp, notes.refresh_token)).statusCode, 400, 'the app session it opened ended')
    })

    t.test(
      'an RP form POST without a hint, and a bare GET, get the confirmation page; confirming without an app shows a page',
      async (t) => {
        const { testApp, rp } = await setup(t, { dialect })
        const jar = new CookieJar()
        await openApp(testApp, jar, rp)
        const posted = await testApp.app.inject({
          method: 'POST',
          url: '/oauth/logout',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({ client_id: rp.id }).toString(),
        })
        t.equal(posted.statusCode, 200)
        t.match(posted.body, /Notes<\/strong> asks to sign you out/)
        const bare = await browse(testApp, jar, '/oauth/logout')
        t.equal(bare.statusCode, 200)
        const done = await submit(testApp, jar, '/oauth/logout/confirm', { csrf: hiddenField(bare.body, 'csrf') })
        t.equal(done.statusCode, 200)
        t.match(done.body, /You are signed out/)
        t.equal(await isSignedIn(testApp, jar, rp), false)
      },
    )
  })

  t.test(`ID tokens on refresh (OIDC Core §12.2) on ${dialect}`, async (t) => {
    const { testApp, rp, other } = await setup(t, { dialect })
    const jar = new CookieJar()
    const first = await openApp(testApp, jar, rp)
    testApp.clock.advance(5_000)
    const res = await refresh(testApp, rp, first.refresh_token)
    t.equal(res.statusCode, 200)
    const body = res.json<AppTokens>()
    const keys = createLocalJWKSet(testApp.deps.keystore.jwks())
    const { payload } = await jwtVerify(body.id_token, keys, {
      issuer: testApp.config.issuer,
      audience: rp.id,
      typ: 'JWT',
      currentDate: new Date(testApp.clock.now()),
    })
    const before = claimsOf(first.id_token)
    t.equal(payload.sub, before.sub, 'same sub')
    t.equal(payload.sid, before.sid, 'same sid')
    t.equal(payload.auth_time, before.auth_time, 'same auth_time')
    t.equal(payload.nonce, undefined, 'no nonce')
    t.ok((payload.iat ?? 0) > Number(before.iat), 'a new token')
    t.equal(decodeProtectedHeader(body.id_token).typ, 'JWT')

    // Without openid in the grant, no ID token.
    const plain = await openApp(testApp, jar, other, 'ada@example.com', 'email')
    const plainRefresh = await refresh(testApp, other, plain.refresh_token)
    t.equal(plainRefresh.statusCode, 200)
    t.equal(plainRefresh.json<Record<string, unknown>>().id_token, undefined)
  })

  t.test(`userinfo needs openid and answers POST on ${dialect}`, async (t) => {
    const { testApp, rp, other } = await setup(t, { dialect })
    const jar = new CookieJar()
    const oidc = await openApp(testApp, jar, rp)
    const plain = await openApp(testApp, jar, other, 'ada@example.com', 'email')
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
    const sub = claimsOf(oidc.id_token).sub
    const expected = { sub, email: 'ada@example.com', email_verified: false }

    const get = await testApp.app.inject({ url: '/oauth/userinfo', headers: bearer(oidc.access_token) })
    t.same(get.json(), expected)

    const refused = await testApp.app.inject({ url: '/oauth/userinfo', headers: bearer(plain.access_token) })
    t.equal(refused.statusCode, 403)
    t.same(refused.json(), {
      error: 'insufficient_scope',
      error_description: 'this request needs an access token with the scope openid',
    })
    t.equal(refused.headers['www-authenticate'], 'Bearer realm="latchkey", error="insufficient_scope", scope="openid"')

    const postHeader = await testApp.app.inject({
      method: 'POST',
      url: '/oauth/userinfo',
      headers: bearer(oidc.access_token),
    })
    t.same(postHeader.json(), expected, 'POST with the header')
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    const postForm = await testApp.app.inject({
      method: 'POST',
      url: '/oauth/userinfo',
      headers: form,
      payload: new URLSearchParams({ access_token: oidc.access_token }).toString(),
    })
    t.same(postForm.json(), expected, 'POST with the token in the form body (RFC 6750 §2.2)')
    const both = await testApp.app.inject({
      method: 'POST',
      url: '/oauth/userinfo',
      headers: { ...form, ...bearer(oidc.access_token) },
      payload: new URLSearchParams({ access_token: oidc.access_token }).toString(),
    })
    t.equal(both.statusCode, 400)
    t.equal(both.json<{ error: string }>().error, 'invalid_request')
    const json = await testApp.app.inject({
      method: 'POST',
      url: '/oauth/userinfo',
      headers: { 'content-type': 'application/json' },
      payload: { access_token: oidc.access_token },
    })
    t.equal(json.statusCode, 400, 'a JSON body is not a form')
    const none = await testApp.app.inject({ method: 'POST', url: '/oauth/userinfo' })
    t.equal(none.statusCode, 401)
    t.match(String(none.headers['www-authenticate']), /^Bearer /)
  })

  t.test(`client registration checks the logout URIs on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const base = { grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid'], audiences: [] }
    await t.rejects(
      registerClient(testApp, { ...base, postLogoutRedirectUris: ['http://rp.example.com/bye'] }),
      /post-logout redirect URI "http:\/\/rp.example.com\/bye" must use https unless its host is loopback/,
    )
    await t.rejects(
      registerClient(testApp, { ...base, backchannelLogoutUri: 'http://rp.example.com/bc' }),
      /backchannel logout URI "http:\/\/rp.example.com\/bc" must use https unless its host is loopback/,
    )
    await t.rejects(
      registerClient(testApp, { ...base, backchannelLogoutUri: 'https://rp.example.com/bc#x' }),
      /must not have a fragment/,
    )
    await t.rejects(
      registerClient(testApp, { ...base, backchannelLogoutUri: 'com.example.app:/bc' }),
      /must be http\(s\)/,
    )
    const ok = await registerClient(testApp, {
      ...base,
      postLogoutRedirectUris: ['com.example.app:/bye', 'http://127.0.0.1:8080/bye'],
      backchannelLogoutUri: 'http://127.0.0.1:9999/bc',
    })
    t.ok(ok.id)
  })

  t.test(`the admin API sets and clears the logout URIs on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const { headers } = await adminAccess(testApp)
    const created = await testApp.app.inject({
      method: 'POST',
      url: '/admin/clients',
      headers,
      payload: {
        name: 'Notes',
        grant_types: ['authorization_code'],
        scope: 'openid',
        redirect_uris: [REDIRECT],
        post_logout_redirect_uris: [LOGGED_OUT],
        backchannel_logout_uri: 'https://rp.example.com/bc',
      },
    })
    t.equal(created.statusCode, 201)
    const view = created.json<Record<string, unknown>>()
    t.same(view.post_logout_redirect_uris, [LOGGED_OUT])
    t.equal(view.backchannel_logout_uri, 'https://rp.example.com/bc')
    const cleared = await testApp.app.inject({
      method: 'PATCH',
      url: `/admin/clients/${String(view.client_id)}`,
      headers,
      payload: { backchannel_logout_uri: null, post_logout_redirect_uris: [] },
    })
    t.equal(cleared.statusCode, 200)
    t.equal(cleared.json<Record<string, unknown>>().backchannel_logout_uri, null)
    t.same(cleared.json<Record<string, unknown>>().post_logout_redirect_uris, [])
    const bad = await testApp.app.inject({
      method: 'PATCH',
      url: `/admin/clients/${String(view.client_id)}`,
      headers,
      payload: { backchannel_logout_uri: 'http://rp.example.com/bc' },
    })
    t.equal(bad.statusCode, 400)
    t.same(bad.json(), {
      error: 'invalid_client_metadata',
      error_description: 'backchannel logout URI "http://rp.example.com/bc" must use https unless its host is loopback',
    })
  })
}
