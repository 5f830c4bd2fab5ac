import t from 'tap'
import type { CDPSession, Page } from 'playwright-core'
import { launchChromium } from '../helpers/browser.js'
import { buildTestApp, registerClient, type TestApp, type TestClient } from '../helpers/build-test-app.js'
import { exchangeCode, pkcePair } from '../helpers/authorize.js'
import { freePort } from '../helpers/free-port.js'
import { testDialects } from '../helpers/test-database.js'
import { totpCode } from '../helpers/totp.js'
import { PASSWORD, claimsOf, registerUser } from '../helpers/users.js'

// The hosted second factors in real headless Chromium: the authenticator app set up on the account
// page (QR code as server-side SVG under the strict CSP, no JavaScript), then an app's sign-in
// finished with a TOTP code, then with "Use a passkey" (CDP virtual authenticator). Codes come
// from otplib at the app's injected clock.

const EMAIL = 'two-step@example.com'

async function addAuthenticator(cdp: CDPSession): Promise<void> {
  await cdp.send('WebAuthn.enable', { enableUI: false })
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  })
}

/** Starts an app's authorization request and signs in with the password; the page shows what comes next. */
async function startAppSignin(page: Page, origin: string, client: TestClient, redirectUri: string) {
  const { verifier, challenge } = pkcePair()
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: client.id,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    scope: 'openid',
    state: 'st',
  })
  await page.goto(`${origin}/oauth/authorize?${query}`)
  await page.getByLabel('Email').fill(EMAIL)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  await page.getByRole('heading', { name: 'Two-step sign-in' }).waitFor()
  return verifier
}

async function amrAtCallback(testApp: TestApp, page: Page, client: TestClient, redirectUri: string, verifier: string) {
  await page.waitForURL((url) => url.href.startsWith(redirectUri))
  const code = new URL(page.url()).searchParams.get('code')!
  const res = await exchangeCode(testApp, { code, redirect_uri: redirectUri, code_verifier: verifier }, client.basic)
  if (res.statusCode !== 200) throw new Error(`exchange: ${res.statusCode} ${res.body}`)
  return claimsOf(res.json<{ access_token: string }>().access_token).amr
}

async function signOut(page: Page, origin: string) {
  await page.goto(`${origin}/signout`)
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.getByText('You are signed out').waitFor()
}

for (const dialect of testDialects()) {
  t.test(`second factors on the hosted pages in Chromium, on ${dialect}`, async (t) => {
    const port = await freePort()
    const origin = `http://localhost:${port}`
    const testApp = await buildTestApp(t, { dialect, env: { PORT: String(port), LATCHKEY_ISSUER: origin } })
    await testApp.app.listen({ port, host: '127.0.0.1' })
    await registerUser(testApp, EMAIL)
    const redirectUri = `${origin}/app-callback`
    const client = await registerClient(testApp, {
      grantTypes: ['authorization_code'],
      redirectUris: [redirectUri],
      scopes: ['openid'],
      firstParty: true,
    })

    const browser = await launchChromium(t)
    const context = await browser.newContext()
    const page = await context.newPage()
    const cspViolations: string[] = []
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text())
    })
    await addAuthenticator(await context.newCDPSession(page))
    let secret = ''

    await t.test('setting up the authenticator app on the account page', async (t) => {
      await page.goto(`${origin}/signin`)
      await page.getByLabel('Email').fill(EMAIL)
      await page.getByLabel('Password').fill(PASSWORD)
      await page.getByRole('button', { name: 'Sign in', exact: true }).click()
      await page.getByText('You are signed in as').waitFor()
      await page.goto(`${origin}/account/security`)
      await page.getByRole('button', { name: 'Set up an authenticator app' }).click()
      const qr = page.locator('.qr svg')
      await qr.waitFor()
      const box = await qr.boundingBox()
      t.ok(box !== null && box.width >= 150 && box.height >= 150, 'the QR code is drawn')
      secret = (await page.locator('#totp-secret').textContent())!.trim()
      t.match(secret, /^[A-Z2-7]{32}$/, 'a 160-bit base32 key')
      await page.getByLabel('Code from the app').fill(totpCode(secret, testApp.clock.now()))
      await page.getByRole('button', { name: 'Turn on' }).click()
      await page.getByText('Two-step sign-in is on.', { exact: true }).waitFor()
      t.equal(await page.locator('#recovery-codes li').count(), 10, 'ten recovery codes shown')
      t.equal(await page.locator('#recovery-codes-left').textContent(), '10')
      await page.goto(`${origin}/account/security`)
      await page.getByText('Two-step sign-in with an authenticator app is on.').waitFor()
      t.equal(await page.locator('#recovery-codes li').count(), 0, 'shown once')
      testApp.clock.advance(30_000)
    })

    await t.test('adding a passkey too', async (t) => {
      await page.getByLabel('Name for a new passkey').fill('laptop')
      await page.getByRole('button', { name: 'Add a passkey' }).click()
      await page.getByText('Passkey "laptop" added.').waitFor()
      t.pass()
    })

    await t.test("an app's sign-in finished with a code from the app", async (t) => {
      await signOut(page, origin)
      const verifier = await startAppSignin(page, origin, client, redirectUri)
      await page.getByLabel('Code from your authenticator app, or a recovery code').fill('000000')
      await page.getByRole('button', { name: 'Continue' }).click()
      await page.getByText('The code is incorrect or was already used.').waitFor()
      await page
        .getByLabel('Code from your authenticator app, or a recovery code')
        .fill(totpCode(secret, testApp.clock.now()))
      await page.getByRole('button', { name: 'Continue' }).click()
      t.same(await amrAtCallback(testApp, page, client, redirectUri, verifier), ['pwd', 'otp', 'mfa'])
      testApp.clock.advance(30_000)
    })

    await t.test("an app's sign-in finished with a passkey as the second step", async (t) => {
      await signOut(page, origin)
      const verifier = await startAppSignin(page, origin, client, redirectUri)
      await page.getByRole('button', { name: 'Use a passkey' }).click()
      t.same(await amrAtCallback(testApp, page, client, redirectUri, verifier), ['pwd', 'hwk', 'user', 'mfa'])
    })

    await t.test('the strict CSP was never violated', async (t) => {
      t.same(cspViolations, [])
    })
  })
}
