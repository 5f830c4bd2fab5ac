import t from 'tap'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { createSmtpServer, linkIn, type TestSmtpServer } from '../helpers/smtp-server.js'
import { testDialects } from '../helpers/test-database.js'
import { PASSWORD, claimsOf, login, nextClientIp, registerUser } from '../helpers/users.js'
import { deliverDueMessages } from '../../server/mail/deliver-outbox.js'
import { findUserByEmail } from '../../server/users/user.store.js'

/** Delivers what is due and returns the token of the verification mail just sent to `email`. */
async function deliverVerificationToken(testApp: TestApp, smtp: TestSmtpServer, email: string): Promise<string> {
  const before = smtp.messages.length
  await deliverDueMessages(testApp.deps)
  const mail = smtp.messages.slice(before).find((m) => m.to.includes(email) && m.subject.startsWith('Verify'))
  if (!mail) throw new Error(`no verification mail for ${email}`)
  return linkIn(mail, '/verify-email').searchParams.get('token')!
}

function verify(testApp: TestApp, token: string) {
  return testApp.app.inject({
    method: 'POST',
    url: '/auth/email/verify',
    payload: { token },
    remoteAddress: nextClientIp(),
  })
}

for (const dialect of testDialects()) {
  t.test(`email verification on ${dialect}`, async (t) => {
    const smtp = await createSmtpServer(t)
    const testApp = await buildTestApp(t, { dialect, env: { SMTP_URL: smtp.url } })
    const { app } = testApp

    t.test('registration mails a link whose page verifies the address, once', async (t) => {
      await registerUser(testApp, 'ada@example.com')
      const before = smtp.messages.length
      const token = await deliverVerificationToken(testApp, smtp, 'ada@example.com')
      const mail = smtp.messages[before]!
      t.equal(mail.subject, 'Verify your email address for Latchkey')
      t.match(mail.text, `http://localhost:3000/verify-email?token=${token}`)
      t.match(mail.html, `href="http://localhost:3000/verify-email?token=${token}"`)

      const page = await app.inject({ url: `/verify-email?token=${token}` })
      t.equal(page.statusCode, 200)
      t.match(page.headers['content-security-policy'], /default-src 'none'.*form-action 'self'.*frame-ancestors 'none'/)
      t.equal(page.headers['referrer-policy'], 'no-referrer')
      t.match(page.body, '<form method="post" action="/verify-email">')
      t.notOk(
        (await findUserByEmail(testApp.deps.db, 'ada@example.com'))!.emailVerified,
        'opening the link (as a mail scanner would) verifies nothing',
      )

      const done = await app.inject({
        method: 'POST',
        url: '/verify-email',
        payload: `token=${token}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        remoteAddress: nextClientIp(),
      })
      t.equal(done.statusCode, 200)
      t.match(done.body, 'your email address is verified')
      t.ok((await findUserByEmail(testApp.deps.db, 'ada@example.com'))!.emailVerified)
      t.equal(
        claimsOf((await login(testApp, 'ada@example.com')).accessToken).email_verified,
        true,
        'new access tokens say so',
      )

      const again = await verify(testApp, token)
      t.equal(again.statusCode, 400, 'single use')
      t.same(again.json(), {
        error: 'invalid_token',
        error_description: 'this verification link is invalid, expired or already used; sign in and ask for a new one',
      })
      const pageAgain = await app.inject({ url: `/verify-email?token=${token}` })
      t.equal(pageAgain.statusCode, 400)
      t.match(pageAgain.body, 'This verification link is invalid, expired or already used.')
    })

    t.test('POST /auth/email/verify answers 204 for a live token and refuses an expired one', async (t) => {
      await registerUser(testApp, 'api@example.com')
      const token = await deliverVerificationToken(testApp, smtp, 'api@example.com')
      t.equal((await verify(testApp, token)).statusCode, 204)
      await registerUser(testApp, 'late@example.com')
      const late = await deliverVerificationToken(testApp, smtp, 'late@example.com')
      testApp.clock.advance(48 * 3_600_000 + 1)
      t.equal((await verify(testApp, late)).statusCode, 400)
      t.equal((await verify(testApp, 'made-up')).statusCode, 400)
    })

    t.test('resend (Bearer) mails a fresh link, kills the older one, and is limited per account', async (t) => {
      await registerUser(testApp, 'resend@example.com')
      const first = await deliverVerificationToken(testApp, smtp, 'resend@example.com')
      const { accessToken } = await login(testApp, 'resend@example.com')
      const resend = () =>
        app.inject({
          method: 'POST',
          url: '/auth/email/resend',
          headers: { authorization: `Bearer ${accessToken}` },
          remoteAddress: nextClientIp(),
        })
      const res = await resend()
      t.equal(res.statusCode, 202)
      t.same(res.json(), {
        status: 'accepted',
        message: 'If your address is not verified yet, a new verification link is on its way.',
      })
      const second = await deliverVerificationToken(testApp, smtp, 'resend@example.com')
      t.not(second, first)
      t.equal((await verify(testApp, first)).statusCode, 400, 'the older link is dead')
      t.equal((await resend()).statusCode, 202)
      const limited = await resend()
      t.equal(limited.statusCode, 429, 'three verification mails per 15 minutes')
      t.equal(limited.json().error, 'rate_limited')
      t.equal(
        (await app.inject({ method: 'POST', url: '/auth/email/resend', remoteAddress: nextClientIp() })).statusCode,
        401,
      )
    })

    t.test('a verified address gets no more verification mail', async (t) => {
      await registerUser(testApp, 'done@example.com')
      t.equal(
        (await verify(testApp, await deliverVerificationToken(testApp, smtp, 'done@example.com'))).statusCode,
        204,
      )
      const { accessToken } = await login(testApp, 'done@example.com')
      const res = await app.inject({
        method: 'POST',
        url: '/auth/email/resend',
        headers: { authorization: `Bearer ${accessToken}` },
        remoteAddress: nextClientIp(),
      })
      t.equal(res.statusCode, 202)
      const before = smtp.messages.length
      await deliverDueMessages(testApp.deps)
      t.equal(smtp.messages.length, before)
    })
  })

  t.test(`LATCHKEY_REQUIRE_VERIFIED_EMAIL=true on ${dialect}: login waits for the emailed link`, async (t) => {
    const smtp = await createSmtpServer(t)
    const testApp = await buildTestApp(t, {
      dialect,
      env: { SMTP_URL: smtp.url, LATCHKEY_REQUIRE_VERIFIED_EMAIL: 'true' },
    })
    await registerUser(testApp, 'strict@example.com')
    const expired = await deliverVerificationToken(testApp, smtp, 'strict@example.com')
    testApp.clock.advance(48 * 3_600_000 + 1)
    t.equal((await verify(testApp, expired)).statusCode, 400, 'the first link expired')
    const refused = await testApp.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: 'strict@example.com', password: PASSWORD },
      remoteAddress: nextClientIp(),
    })
    t.equal(refused.statusCode, 403)
    t.same(refused.json(), {
      error: 'email_not_verified',
      error_description: 'verify your email address before signing in: follow the link we emailed you',
    })
    const wrong = await testApp.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: 'strict@example.com', password: 'not the password at all' },
      remoteAddress: nextClientIp(),
    })
    t.equal(wrong.statusCode, 401, 'a wrong password learns nothing about verification')
    t.equal(
      (await verify(testApp, await deliverVerificationToken(testApp, smtp, 'strict@example.com'))).statusCode,
      204,
      'the right password mailed a fresh link',
    )
    t.equal(claimsOf((await login(testApp, 'strict@example.com')).accessToken).email_verified, true)
  })
}
