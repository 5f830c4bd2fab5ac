import fs from 'node:fs'
import t from 'tap'
import type { Page } from 'playwright-core'
import { CHROMIUM, launchChromium } from '../helpers/browser.js'
import { buildTestApp } from '../helpers/build-test-app.js'
import { freePort } from '../helpers/free-port.js'
import { enrolTotp, totpCode } from '../helpers/totp.js'
import { PASSWORD, registerUser } from '../helpers/users.js'
import { startWebApp } from '../../examples/web-app/serve.js'

// The example app's first-party page with second factors, in real headless Chromium with a CDP
// virtual authenticator: client/'s login → mfa_required → loginWithCode, registerPasskey,
// loginWithPasskey(mfaToken) as the second step, and loginWithPasskey() alone. The passkey's
// origin is the app's: LATCHKEY_PUBLIC_URL names it, as when both are served on one origin.

const EMAIL = 'example-mfa@example.com'

t.test(
  'the example app signs in with a code, adds a passkey, and uses it as the second step and alone',
  { skip: fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (.ci/run installs it)` },
  async (t) => {
    const latchkeyPort = await freePort()
    const appPort = await freePort()
    const issuer = `http://localhost:${latchkeyPort}`
    const appOrigin = `http://localhost:${appPort}`
    const testApp = await buildTestApp(t, {
      env: { LATCHKEY_ISSUER: issuer, LATCHKEY_PUBLIC_URL: appOrigin, LATCHKEY_CORS_ORIGINS: appOrigin },
    })
    await testApp.app.listen({ port: latchkeyPort, host: '127.0.0.1' })
    await registerUser(testApp, EMAIL)
    const { secret } = await enrolTotp(testApp, EMAIL)
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
    const cdp = await context.newCDPSession(tab)
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
    const amr = (page: Page) => page.locator('#amr').textContent()
    const passwordStep = async () => {
      await tab.fill('#email', EMAIL)
      await tab.fill('#password', PASSWORD)
      await tab.click('#login button[type=submit]')
      await tab.locator('#second-step').waitFor()
    }
    const signOut = async () => {
      await tab.click('#sign-out')
      await tab.locator('#status', { hasText: 'Signed out' }).waitFor()
    }

    await tab.goto(`${appOrigin}/first-party`)
    await tab.locator('#status', { hasText: 'Signed out' }).waitFor()
    await passwordStep()
    t.equal(await tab.locator('#status').textContent(), 'Signed out', 'the password alone signs nobody in')
    await tab.fill('#code', totpCode(secret, testApp.clock.now()))
    await tab.click('#second-step button[type=submit]')
    await tab.locator('#who', { hasText: EMAIL }).waitFor()
    t.equal(await amr(tab), 'pwd otp mfa', 'loginWithCode')

    await tab.click('#add-passkey')
    await tab.locator('#passkey-added').waitFor()
    t.pass('registerPasskey')
    await signOut()

    await passwordStep()
    await tab.click('#second-step-passkey')
    await tab.locator('#who', { hasText: EMAIL }).waitFor()
    t.equal(await amr(tab), 'pwd hwk user mfa', 'loginWithPasskey(mfaToken): the passkey as the second step')
    await signOut()

    await tab.click('#passkey-sign-in')
    await tab.locator('#who', { hasText: EMAIL }).waitFor()
    t.equal(await amr(tab), 'hwk user mfa', 'loginWithPasskey(): the passkey alone')
  },
)
