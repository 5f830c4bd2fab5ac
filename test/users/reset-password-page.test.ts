import t from 'tap'
import { buildTestApp } from '../helpers/build-test-app.js'
import { createSmtpServer, linkIn } from '../helpers/smtp-server.js'
import { testDialects } from '../helpers/test-database.js'
import { login, nextClientIp, registerUser } from '../helpers/users.js'
import { deliverDueMessages } from '../../server/mail/deliver-outbox.js'

const form = { 'content-type': 'application/x-www-form-urlencoded' }

for (const dialect of testDialects()) {
  t.test(`hosted reset page on ${dialect}`, async (t) => {
    const smtp = await createSmtpServer(t)
    const testApp = await buildTestApp(t, { dialect, env: { SMTP_URL: smtp.url } })
    const { app } = testApp
    const post = (url: string, body: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url,
        payload: new URLSearchParams(body).toString(),
        headers: form,
        remoteAddress: nextClientIp(),
      })

    t.test('without a token it asks for the email, with a labelled field, strict CSP and no script', async (t) => {
      const res = await app.inject({ url: '/reset-password' })
      t.equal(res.statusCode, 200)
      t.match(res.headers['content-type'], 'text/html')
      t.match(res.headers['content-security-policy'], /default-src 'none'/)
      t.notMatch(res.headers['content-security-policy'], /script-src/)
      t.equal(res.headers['referrer-policy'], 'no-referrer')
      t.equal(res.headers['cache-control'], 'no-store')
      t.match(res.body, '<label for="email">Email address</label>')
      t.match(res.body, '<input type="email" id="email" name="email" autocomplete="email" required')
      t.match(res.body, '<meta name="viewport" content="width=device-width, initial-scale=1">')
      t.notMatch(res.body, '<script')
    })

    t.test('the whole reset through the pages, without JavaScript', async (t) => {
      await registerUser(testApp, 'page@example.com')
      const asked = await post('/reset-password', { email: 'page@example.com' })
      t.equal(asked.statusCode, 200)
      t.match(asked.body, 'If an account uses this address, a password reset link is on its way.')
      const unknown = await post('/reset-password', { email: 'nobody@example.com' })
      t.equal(
        unknown.body.replace(/nonce-[^']+'|nonce="[^"]+"/g, ''),
        asked.body.replace(/nonce-[^']+'|nonce="[^"]+"/g, ''),
        'an unknown address sees the same page',
      )

      await deliverDueMessages(testApp.deps)
      const link = linkIn(
        smtp.messages.find((m) => m.subject.startsWith('Reset'))!,
        '/reset-password',
      )
      const token = link.searchParams.get('token')!
      const page = await app.inject({ url: `${link.pathname}${link.search}` })
      t.equal(page.statusCode, 200)
      t.match(page.body, '<form method="post" action="/reset-password/confirm">')
      t.match(page.body, `<input type="hidden" name="token" value="${token}">`)
      t.match(page.body, '<label for="password">New password</label>')
      t.match(page.body, 'autocomplete="new-password"')

      const mismatch = await post('/reset-password/confirm', {
        token,
        password: 'one long passphrase here',
        password_confirmation: 'another long passphrase',
      })
      t.equal(mismatch.statusCode, 400)
      t.match(mismatch.body, 'role="alert" id="form-error">The two passwords are not the same.')
      t.match(mismatch.body, `value="${token}"`, 'the form keeps the token for another try')

      const weak = await post('/reset-password/confirm', {
        token,
        password: 'password1234',
        password_confirmation: 'password1234',
      })
      t.equal(weak.statusCode, 400)
      t.match(weak.body, 'this password appears in lists of common or breached passwords')

      const done = await post('/reset-password/confirm', {
        token,
        password: 'a freshly chosen passphrase 7',
        password_confirmation: 'a freshly chosen passphrase 7',
      })
      t.equal(done.statusCode, 200)
      t.match(done.body, 'Your password was changed')
      await login(testApp, 'page@example.com', 'a freshly chosen passphrase 7')

      const reused = await post('/reset-password/confirm', {
        token,
        password: 'a freshly chosen passphrase 8',
        password_confirmation: 'a freshly chosen passphrase 8',
      })
      t.equal(reused.statusCode, 400)
      t.match(reused.body, 'This reset link is invalid, expired or already used.')
    })

    t.test('no token reaches the log, through the pages or the API', async (t) => {
      const logLines: string[] = []
      const logged = await buildTestApp(t, { dialect, env: { SMTP_URL: smtp.url }, logLines })
      await registerUser(logged, 'quiet@example.com')
      await logged.app.inject({
        method: 'POST',
        url: '/auth/password-reset',
        payload: { email: 'quiet@example.com' },
        remoteAddress: nextClientIp(),
      })
      const before = smtp.messages.length
      await deliverDueMessages(logged.deps)
      const mails = smtp.messages.slice(before)
      const resetToken = linkIn(
        mails.find((m) => m.subject.startsWith('Reset'))!,
        '/reset-password',
      ).searchParams.get('token')!
      const verifyToken = linkIn(
        mails.find((m) => m.subject.startsWith('Verify'))!,
        '/verify-email',
      ).searchParams.get('token')!
      await logged.app.inject({ url: `/reset-password?token=${resetToken}` })
      await logged.app.inject({ url: `/verify-email?token=${verifyToken}` })
      await logged.app.inject({
        method: 'POST',
        url: '/verify-email',
        payload: `token=${verifyToken}`,
        headers: form,
        remoteAddress: nextClientIp(),
      })
      await logged.app.inject({
        method: 'POST',
        url: '/reset-password/confirm',
        payload: `token=${resetToken}&password=short`,
        headers: form,
        remoteAddress: nextClientIp(),
      })
      await logged.app.inject({
        method: 'POST',
        url: '/auth/password-reset/confirm',
        payload: { token: resetToken, password: 'the quiet passphrase 2027' },
        remoteAddress: nextClientIp(),
      })
      await logged.app.inject({
        method: 'POST',
        url: '/auth/password-reset/confirm',
        payload: { token: resetToken, password: 'the quiet passphrase 2027' },
        remoteAddress: nextClientIp(),
      })
      t.ok(
        logLines.some((l) => l.includes('"path":"/reset-password"')),
        'the pages are logged, by path',
      )
      const logs = logLines.join('')
      t.notMatch(logs, resetToken)
      t.notMatch(logs, verifyToken)
      t.notMatch(logs, 'quiet@example.com')
    })

    t.test('a dead or forged token shows the request form with a clear message, never the token', async (t) => {
      const res = await app.inject({ url: '/reset-password?token=%3Cscript%3Ealert(1)%3C%2Fscript%3E' })
      t.equal(res.statusCode, 400)
      t.match(res.body, 'This reset link is invalid, expired or already used. Ask for a new one below.')
      t.notMatch(res.body, 'alert(1)')
    })

    t.test('the page forms are rate limited with an HTML answer', async (t) => {
      const ip = nextClientIp()
      let last = await app.inject({
        method: 'POST',
        url: '/reset-password',
        payload: 'email=limit%40example.com',
        headers: form,
        remoteAddress: ip,
      })
      for (let i = 0; i < 5; i++)
        last = await app.inject({
          method: 'POST',
          url: '/reset-password',
          payload: 'email=limit%40example.com',
          headers: form,
          remoteAddress: ip,
        })
      t.equal(last.statusCode, 429)
      t.match(last.headers['content-type'], 'text/html')
      t.match(last.body, 'Too many requests, retry after')
    })
  })
}
