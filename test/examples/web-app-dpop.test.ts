import fs from 'node:fs'
import t from 'tap'
import type { Page } from 'playwright-core'
import { decodeJwt } from 'jose'
import { CHROMIUM, launchChromium } from '../helpers/browser.js'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
import { freePort } from '../helpers/free-port.js'
import { startWebApp } from '../../examples/web-app/serve.js'

// The browser client's DPoP option end to end in real headless Chromium: the example app on one
// site (127.0.0.1), Latchkey on another (localhost) with its default server nonces, a real
// non-extractable WebCrypto key kept in IndexedDB, jose's browser build signing the proofs.

const PASSWORD = 'a long and memorable passphrase 9'

interface PageClient {
  dpopThumbprint(): Promise<string | null>
  getAccessToken(): Promise<string | null>
  refresh(): Promise<string | null>
  fetch(url: string, init?: RequestInit): Promise<Response>
  logout(): Promise<void>
}

/** What the page's client knows: its key's thumbprint and its current access token. */
const clientFacts = (page: Page) =>
  page.evaluate(async () => {
    const client = (window as unknown as { webApp: { client: PageClient } }).webApp.client
    return { jkt: await client.dpopThumbprint(), token: await client.getAccessToken() }
  })

t.test(
  'a DPoP app keeps a non-extractable key across reloads and uses it for the code, the refresh and userinfo',
  { skip: fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (.ci/run installs it)` },
  async (t) => {
    const latchkeyPort = await freePort()
    const appPort = await freePort()
    const issuer = `http://localhost:${latchkeyPort}`
    const appOrigin = `http://127.0.0.1:${appPort}`
    const testApp = await buildTestApp(t, { env: { LATCHKEY_ISSUER: issuer, LATCHKEY_CORS_ORIGINS: appOrigin } })
    await testApp.app.listen({ port: latchkeyPort, host: '127.0.0.1' })
    const client = await registerClient(testApp, {
      name: 'DPoP app',
      type: 'public',
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'email', 'profile'],
      audiences: [],
      redirectUris: [`${appOrigin}/callback`],
    })
    const register = await testApp.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email: 'ada@example.com', password: PASSWORD },
    })
    t.equal(register.statusCode, 202)
    const webApp = await startWebApp({
      port: appPort,
      host: '127.0.0.1',
      issuer,
      clientId: client.id,
      origin: appOrigin,
      dpop: true,
    })
    t.teardown(() => new Promise<void>((resolve) => webApp.close(() => resolve())))

    const browser = await launchChromium(t)
    const context = await browser.newContext()
    const tab = await context.newPage()
    // Every answer of the token endpoint, in order: [status, error, has a DPoP header].
    let tokenAnswers: Promise<[number, string | null, boolean]>[] = []
    tab.on('response', (response) => {
      if (new URL(response.url()).pathname !== '/oauth/token') return
      tokenAnswers.push(
        Promise.all([response.json().catch(() => ({})), response.request().headerValue('dpop')]).then(
          ([body, dpop]) => [response.status(), (body as { error?: string }).error ?? null, dpop !== null],
        ),
      )
    })
    const status = tab.locator('#status')

    await tab.goto(appOrigin)
    await status.filter({ hasText: 'Signed out' }).waitFor()
    await tab.click('#sign-in')
    await tab.waitForURL(`${issuer}/oauth/authorize?**`)
    await tab.fill('#email', 'ada@example.com')
    await tab.fill('#password', PASSWORD)
    await tab.click('button[type=submit]')
    await tab.locator('h1', { hasText: 'Allow DPoP app to access your account?' }).waitFor()
    await tab.click('button[value=allow]')
    await tab.waitForURL(`${appOrigin}/`)
    await status.filter({ hasText: 'Signed in' }).waitFor()
    await tab.locator('#profile-email', { hasText: 'ada@example.com' }).waitFor()
    t.pass('the profile came from userinfo, called with the DPoP-bound token and a proof')

    const first = await clientFacts(tab)
    t.match(first.jkt, /^[A-Za-z0-9_-]{43}$/, 'the key has an RFC 7638 thumbprint')
    t.same(decodeJwt(first.token!).cnf, { jkt: first.jkt }, 'the access token is bound to the key (cnf.jkt)')
    t.same(
      await Promise.all(tokenAnswers),
      [
        [400, 'use_dpop_nonce', true],
        [200, null, true],
      ],
      'the code exchange carried a proof, was asked for a nonce, and succeeded once more with it',
    )
    const sessions = await testApp.deps.db.selectFrom('sessions').select('dpop_jkt').execute()
    t.same(sessions, [{ dpop_jkt: first.jkt }], "the public client's refresh tokens are bound to the key")

    const key = await tab.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const request = indexedDB.open('latchkey-dpop')
        request.onsuccess = () => resolve(request.result)
        request.onerror = () => reject(request.error ?? new Error('IndexedDB failed'))
      })
      const stored = await new Promise<CryptoKeyPair[]>((resolve, reject) => {
        const request = db.transaction('keys').objectStore('keys').getAll()
        request.onsuccess = () => resolve(request.result as CryptoKeyPair[])
        request.onerror = () => reject(request.error ?? new Error('IndexedDB failed'))
      })
      db.close()
      const pair = stored[0]!
      const exported = await Promise.all(
        (['jwk', 'pkcs8'] as const).map((format) =>
          crypto.subtle.exportKey(format, pair.privateKey).then(
            () => 'exported',
            (error: Error) => error.name,
          ),
        ),
      )
      return {
        count: stored.length,
        algorithm: pair.privateKey.algorithm,
        extractable: pair.privateKey.extractable,
        exported,
      }
    })
    t.same(
      key,
      {
        count: 1,
        algorithm: { name: 'ECDSA', namedCurve: 'P-256' },
        extractable: false,
        exported: ['InvalidAccessError', 'InvalidAccessError'],
      },
      'one key in IndexedDB, ES256, whose private half cannot be exported',
    )

    const calls = await tab.evaluate(
      async ({ userinfo, token }) => {
        const client = (window as unknown as { webApp: { client: PageClient } }).webApp.client
        const asBearer = await fetch(userinfo, { headers: { authorization: `Bearer ${token}` } })
        const withProof = await client.fetch(userinfo)
        return {
          bearer: [asBearer.status, asBearer.headers.get('www-authenticate')],
          dpop: [withProof.status, ((await withProof.json()) as { email?: string }).email],
        }
      },
      { userinfo: `${issuer}/oauth/userinfo`, token: first.token },
    )
    t.same(calls.bearer[0], 401, 'the same token presented as Bearer is refused by userinfo')
    t.match(calls.bearer[1], /^DPoP error="invalid_token"/)
    t.same(calls.dpop, [200, 'ada@example.com'], 'with the proof and its ath it is accepted')

    tokenAnswers = []
    const refreshed = await tab.evaluate(async () => {
      const client = (window as unknown as { webApp: { client: PageClient } }).webApp.client
      return client.refresh()
    })
    t.not(refreshed, first.token, 'a refresh gives a new access token')
    t.same(decodeJwt(refreshed!).cnf, { jkt: first.jkt }, 'bound to the same key')
    t.same(
      await Promise.all(tokenAnswers),
      [[200, null, true]],
      'the refresh sent a proof with the nonce remembered from the exchange',
    )

    await tab.reload()
    await status.filter({ hasText: 'Signed in' }).waitFor()
    await tab.locator('#profile-email', { hasText: 'ada@example.com' }).waitFor()
    const afterReload = await clientFacts(tab)
    t.equal(afterReload.jkt, first.jkt, 'after a reload the key from IndexedDB is the same key')
    t.same(decodeJwt(afterReload.token!).cnf, { jkt: first.jkt }, "and the new sign-in's token is bound to it")
    t.not(afterReload.token, refreshed)

    await tab.evaluate(() => (window as unknown as { webApp: { client: PageClient } }).webApp.client.logout())
    await status.filter({ hasText: 'Signed out' }).waitFor()
    const left = await testApp.deps.db.selectFrom('sessions').select(['dpop_jkt', 'revoked_at']).execute()
    t.same(
      left.map((session) => [session.dpop_jkt, session.revoked_at !== null]).sort(),
      [
        [first.jkt, false],
        [first.jkt, true],
      ].sort(),
      'signing out revoked the bound refresh token (revocation needs no proof) of the second sign-in',
    )
  },
)
