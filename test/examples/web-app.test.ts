import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { Page } from 'playwright-core'
import { CHROMIUM, launchChromium } from '../helpers/browser.js'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
import { freePort } from '../helpers/free-port.js'
import { startWebApp } from '../../examples/web-app/serve.js'

// End to end in real headless Chromium: the example app on one site (127.0.0.1), Latchkey on
// another (localhost), so SameSite rules apply as they would in production.

const repoRoot = path.resolve(import.meta.dirname, '../..')
const artifacts = path.join(repoRoot, 'test/artifacts')
const PASSWORD = 'a long and memorable passphrase 9'

t.test(
  'sign up, sign in, consent, reload, two tabs refreshing, sign out in the example app',
  { skip: fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (.ci/run installs it)` },
  async (t) => {
    const latchkeyPort = await freePort()
    const appPort = await freePort()
    const issuer = `http://localhost:${latchkeyPort}`
    const appOrigin = `http://127.0.0.1:${appPort}`
    const testApp = await buildTestApp(t, { env: { LATCHKEY_ISSUER: issuer, LATCHKEY_CORS_ORIGINS: appOrigin } })
    await testApp.app.listen({ port: latchkeyPort, host: '127.0.0.1' })
    const client = await registerClient(testApp, {
      name: 'Example app',
      type: 'public',
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'email', 'profile'],
      audiences: [],
      redirectUris: [`${appOrigin}/callback`],
    })
    const webApp = await startWebApp({
      port: appPort,
      host: '127.0.0.1',
      issuer,
      clientId: client.id,
      origin: appOrigin,
    })
    t.teardown(() => new Promise<void>((resolve) => webApp.close(() => resolve())))

    const browser = await launchChromium(t)
    const context = await browser.newContext()
    const tab = await context.newPage()
    const status = (page: Page) => page.locator('#status')

    await tab.goto(`${appOrigin}/callback?code=stolen&state=forged&iss=${encodeURIComponent(issuer)}`)
    await tab
      .locator('#error', { hasText: 'this sign-in response does not belong to a sign-in started here' })
      .waitFor()
    t.pass('a sign-in response the app did not ask for is refused (state check)')
    await tab.goto(appOrigin)
    await t.resolves(status(tab).filter({ hasText: 'Signed out' }).waitFor(), 'starts signed out')
    await tab.click('#sign-in')
    await tab.waitForURL(`${issuer}/oauth/authorize?**`)
    t.equal(await tab.locator('h1').textContent(), 'Sign in')
    fs.mkdirSync(artifacts, { recursive: true })
    await tab.screenshot({ path: path.join(artifacts, 'login-page.png'), fullPage: true })

    await tab.click('text=Create an account')
    await tab.fill('#name', 'Grace Hopper')
    await tab.fill('#email', 'grace@example.com')
    await tab.fill('#password', PASSWORD)
    await tab.click('button[type=submit]')
    await tab.locator('h1', { hasText: 'Sign in' }).waitFor()
    t.equal(await tab.inputValue('#email'), 'grace@example.com', 'the sign-in page follows with the email filled in')
    await tab.fill('#password', PASSWORD)
    await tab.click('button[type=submit]')
    await tab.locator('h1', { hasText: 'Allow Example app to access your account?' }).waitFor()
    await tab.click('button[value=allow]')

    await tab.waitForURL(`${appOrigin}/`)
    await status(tab).filter({ hasText: 'Signed in' }).waitFor()
    await tab.locator('#profile-email', { hasText: 'grace@example.com' }).waitFor()
    t.equal(
      await tab.textContent('#profile-name'),
      'Grace Hopper',
      'the profile comes from userinfo with the access token',
    )
    const cookies = await context.cookies(issuer)
    t.match(
      cookies.find((c) => c.name === '__Host-latchkey_signin'),
      { httpOnly: true, secure: true, sameSite: 'Lax' },
      'the hosted sign-in cookie',
    )

    await tab.reload()
    await status(tab).filter({ hasText: 'Signed in' }).waitFor()
    await tab.locator('#profile-email', { hasText: 'grace@example.com' }).waitFor()
    t.pass('a reload stays signed in (prompt=none through the Lax sign-in cookie, no page shown)')
    t.equal(
      await tab.evaluate(
        () =>
          JSON.stringify({ ...localStorage }).includes('eyJ') || JSON.stringify({ ...sessionStorage }).includes('eyJ'),
      ),
      false,
      'no token in web storage',
    )

    const second = await context.newPage()
    await second.goto(appOrigin)
    await status(second).filter({ hasText: 'Signed in' }).waitFor()
    const refreshBoth = () =>
      Promise.all(
        [tab, second].map((page) =>
          page.evaluate(async () => {
            const app = (window as unknown as { webApp: { client: { refresh(): Promise<string | null> } } }).webApp
            const tokens = await Promise.all([app.client.refresh(), app.client.refresh()])
            return tokens.every((token) => typeof token === 'string')
          }),
        ),
      )
    t.same(await refreshBoth(), [true, true], 'two tabs refreshing at once both get tokens')
    for (const page of [tab, second]) {
      const ok = await page.evaluate(async (url) => {
        const app = (window as unknown as { webApp: { client: { fetch(url: string): Promise<Response> } } }).webApp
        return (await app.client.fetch(url)).status
      }, `${issuer}/oauth/userinfo`)
      t.equal(ok, 200, 'and stay signed in')
    }
    const elsewhere = await tab.evaluate(async (url) => {
      const app = (window as unknown as { webApp: { client: { fetch(url: string): Promise<Response> } } }).webApp
      return app.client.fetch(url).then(
        (response) => `sent, answered ${response.status}`,
        (error: { error?: string }) => error.error ?? String(error),
      )
    }, `http://127.0.0.1:${latchkeyPort}/oauth/userinfo`)
    t.equal(
      elsewhere,
      'origin_not_allowed',
      'the token is never sent to an origin not listed in apiOrigins (Latchkey under another name included)',
    )

    await tab.click('#sign-out')
    await tab.waitForURL(`${issuer}/signout?**`)
    await tab.click('button[type=submit]')
    await tab.waitForURL(`${appOrigin}/callback`)
    await status(tab).filter({ hasText: 'Signed out' }).waitFor()
    await status(second).filter({ hasText: 'Signed out' }).waitFor()
    t.pass('signing out in one tab signs out the other')
    await tab.reload()
    await status(tab).filter({ hasText: 'Signed out' }).waitFor()
    t.notOk(
      (await context.cookies(issuer)).some((c) => c.name === '__Host-latchkey_signin'),
      'the hosted sign-in ended',
    )
    await tab.click('#sign-in')
    await tab.waitForURL(`${issuer}/oauth/authorize?**`)
    t.equal(await tab.locator('h1').textContent(), 'Sign in', 'signing in again needs the password')
  },
)

t.test(
  "first-party mode: tabs on Latchkey's site share one refresh at a time through the session cookie",
  { skip: fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed` },
  async (t) => {
    const latchkeyPort = await freePort()
    const appPort = await freePort()
    const issuer = `http://localhost:${latchkeyPort}`
    // Same site as Latchkey (localhost; the port does not count), another origin.
    const appOrigin = `http://localhost:${appPort}`
    // No reuse grace: were two tabs ever to spend the same cookie, the session would be revoked.
    const testApp = await buildTestApp(t, {
      env: { LATCHKEY_ISSUER: issuer, LATCHKEY_CORS_ORIGINS: appOrigin, LATCHKEY_REFRESH_REUSE_GRACE: '0s' },
    })
    await testApp.app.listen({ port: latchkeyPort, host: '127.0.0.1' })
    const register = await testApp.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { email: 'alan@example.com', password: PASSWORD },
    })
    t.equal(register.statusCode, 202)
    const webApp = await startWebApp({
      port: appPort,
      host: '127.0.0.1',
      issuer,
      clientId: 'unused',
      origin: appOrigin,
    })
    t.teardown(() => new Promise<void>((resolve) => webApp.close(() => resolve())))
    const browser = await launchChromium(t)
    const context = await browser.newContext()
    const tab = await context.newPage()
    await tab.goto(`${appOrigin}/first-party`)
    await tab.locator('#status', { hasText: 'Signed out' }).waitFor()
    await tab.fill('#email', 'alan@example.com')
    await tab.fill('#password', PASSWORD)
    await tab.click('button[type=submit]')
    await tab.locator('#who', { hasText: 'alan@example.com' }).waitFor()

    const second = await context.newPage()
    await second.goto(`${appOrigin}/first-party`)
    await second.locator('#who', { hasText: 'alan@example.com' }).waitFor()
    t.pass('a new tab is signed in through the session cookie')

    const refreshAll = () =>
      Promise.all(
        [tab, second].map((page) =>
          page.evaluate(async () => {
            const app = (window as unknown as { webApp: { client: { refresh(): Promise<string | null> } } }).webApp
            const tokens = await Promise.all([app.client.refresh(), app.client.refresh(), app.client.refresh()])
            return tokens.every((token) => typeof token === 'string')
          }),
        ),
      )
    for (let round = 0; round < 3; round++)
      t.same(await refreshAll(), [true, true], `round ${round + 1}: six concurrent refreshes in two tabs all succeed`)
    const sessions = await testApp.deps.db.selectFrom('sessions').select(['id', 'revoked_at']).execute()
    t.same(
      sessions.map((s) => s.revoked_at),
      [null],
      'one session, never revoked for reuse',
    )
    const rotations = await testApp.deps.db
      .selectFrom('refresh_tokens')
      .select('id')
      .where('session_id', '=', sessions[0]!.id)
      .execute()
    // 1 from the login, 1 for the second tab's load, at least 1 per round (at most 2: one per tab).
    t.ok(
      rotations.length >= 5 && rotations.length <= 8,
      `the rounds really rotated the cookie (${rotations.length} refresh tokens)`,
    )

    await tab.click('#sign-out')
    await tab.locator('#status', { hasText: 'Signed out' }).waitFor()
    await second.locator('#status', { hasText: 'Signed out' }).waitFor()
    t.pass('logout in one tab signs out the other')
    await second.reload()
    await second.locator('#status', { hasText: 'Signed out' }).waitFor()
  },
)
