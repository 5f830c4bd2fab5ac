import { launchChromium } from '../helpers/browser.js'
import t from 'tap'
import { buildTestApp } from '../helpers/build-test-app.js'
import { freePort } from '../helpers/free-port.js'
import { createSmtpServer, linkIn } from '../helpers/smtp-server.js'
import { testDialects } from '../helpers/test-database.js'
import { login, registerUser } from '../helpers/users.js'
import { deliverDueMessages } from '../../server/mail/deliver-outbox.js'
import { findUserByEmail } from '../../server/users/user.store.js'

// The emailed links opened in a real headless Chromium, JavaScript off, on a phone-sized screen.

const NEW_PASSWORD = 'a freshly typed passphrase 9'

for (const dialect of testDialects()) {
  t.test(`the emailed links work in a browser without JavaScript, on ${dialect}`, async (t) => {
    const smtp = await createSmtpServer(t)
    // The issuer (and so the public URL) is the listening server's, so the mailed links open it.
    const port = await freePort()
    const testApp = await buildTestApp(t, {
      dialect,
      env: { SMTP_URL: smtp.url, PORT: String(port), LATCHKEY_ISSUER: `http://127.0.0.1:${port}` },
    })
    await testApp.app.listen({ port, host: '127.0.0.1' })

    const browser = await launchChromium(t)
    const context = await browser.newContext({
      javaScriptEnabled: false,
      viewport: { width: 375, height: 667 },
      isMobile: true,
    })
    const page = await context.newPage()
    const referers: string[] = []
    page.on('request', (request) => {
      const referer = request.headers().referer
      if (referer) referers.push(referer)
    })

    await registerUser(testApp, 'browser@example.com')
    await deliverDueMessages(testApp.deps)
    const verifyLink = linkIn(
      smtp.messages.find((m) => m.subject.startsWith('Verify'))!,
      '/verify-email',
    )
    await page.goto(verifyLink.href)
    await page.getByRole('button', { name: 'Verify my email address' }).click()
    await page.getByText('your email address is verified').waitFor()
    t.equal(new URL(page.url()).search, '', 'the token has left the address bar')
    t.ok((await findUserByEmail(testApp.deps.db, 'browser@example.com'))!.emailVerified)

    await page.goto(`http://127.0.0.1:${port}/reset-password`)
    await page.getByLabel('Email address').fill('browser@example.com')
    await page.getByRole('button', { name: 'Send reset link' }).click()
    await page.getByText('a password reset link is on its way').waitFor()

    await deliverDueMessages(testApp.deps)
    const resetLink = linkIn(
      smtp.messages.find((m) => m.subject.startsWith('Reset'))!,
      '/reset-password',
    )
    await page.goto(resetLink.href)
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD)
    await page.getByLabel('Repeat the new password').fill(NEW_PASSWORD)
    await page.getByRole('button', { name: 'Set new password' }).click()
    await page.getByText('Your password was changed').waitFor()
    t.equal(new URL(page.url()).search, '')
    await login(testApp, 'browser@example.com', NEW_PASSWORD)

    const width = await page.evaluate(() => document.documentElement.scrollWidth).catch(() => null)
    t.ok(width === null || width <= 375, 'no sideways scrolling on a phone')
    t.same(
      referers.filter((r) => r.includes('token=')),
      [],
      'no Referer carries a token',
    )
  })
}
