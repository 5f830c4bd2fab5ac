import t from 'tap'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { createSmtpServer, linkIn, type ReceivedMail, type TestSmtpServer } from '../helpers/smtp-server.js'
import { testDialects } from '../helpers/test-database.js'
import { PASSWORD, browserHeaders, login, nextClientIp, registerUser } from '../helpers/users.js'
import { deliverDueMessages } from '../../server/mail/deliver-outbox.js'
import { findUserByEmail } from '../../server/users/user.store.js'

const NEW_PASSWORD = 'a fresh passphrase for spring 2027'

async function requestReset(testApp: TestApp, email: string, headers: Record<string, string> = {}) {
  return testApp.app.inject({
    method: 'POST',
    url: '/auth/password-reset',
    payload: { email },
    headers,
    remoteAddress: nextClientIp(),
  })
}

async function confirmReset(testApp: TestApp, token: string, password = NEW_PASSWORD) {
  return testApp.app.inject({
    method: 'POST',
    url: '/auth/password-reset/confirm',
    payload: { token, password },
    remoteAddress: nextClientIp(),
  })
}

/** Delivers what is due and returns the reset mail sent to `email` by this delivery. */
async function deliverResetMail(testApp: TestApp, smtp: TestSmtpServer, email: string): Promise<ReceivedMail> {
  const before = smtp.messages.length
  await deliverDueMessages(testApp.deps)
  const mail = smtp.messages.slice(before).find((m) => m.to.includes(email) && m.subject.startsWith('Reset your'))
  if (!mail) throw new Error(`no reset mail for ${email}`)
  return mail
}

async function deliverResetLink(testApp: TestApp, smtp: TestSmtpServer, email: string): Promise<URL> {
  return linkIn(await deliverResetMail(testApp, smtp, email), '/reset-password')
}

for (const dialect of testDialects()) {
  t.test(`password reset on ${dialect}`, async (t) => {
    const smtp = await createSmtpServer(t)
    const testApp = await buildTestApp(t, {
      dialect,
      env: { SMTP_URL: smtp.url, LATCHKEY_PUBLIC_URL: 'https://id.example.com/' },
    })
    const { app } = testApp

    t.test(
      'the reset mail arrives with a working link; the new password works, the old fails, every session ends',
      async (t) => {
        await registerUser(testApp, 'ada@example.com')
        const first = await login(testApp, 'ada@example.com')
        const second = await login(testApp, 'ada@example.com')

        const res = await requestReset(testApp, 'Ada@Example.com')
        t.equal(res.statusCode, 202)
        t.same(res.json(), {
          status: 'accepted',
          message: 'If an account uses this address, a password reset link is on its way.',
        })
        t.equal(
          smtp.messages.filter((m) => m.subject.startsWith('Reset')).length,
          0,
          'the request itself never waits on SMTP',
        )

        const mail = await deliverResetMail(testApp, smtp, 'ada@example.com')
        const link = linkIn(mail, '/reset-password')
        t.equal(link.origin + link.pathname, 'https://id.example.com/reset-password', 'built from LATCHKEY_PUBLIC_URL')
        const token = link.searchParams.get('token')!
        t.match(token, /^[A-Za-z0-9_-]{43}$/, '256 bits, base64url')
        t.match(
          mail.html,
          `href="https://id.example.com/reset-password?token=${token}"`,
          'the HTML part carries the same link',
        )
        t.match(mail.from, /^no-reply@id\.example\.com$/)

        const page = await app.inject({ url: `${link.pathname}${link.search}` })
        t.equal(page.statusCode, 200)
        t.match(page.body, `<input type="hidden" name="token" value="${token}">`)
        t.equal(page.headers['referrer-policy'], 'no-referrer')

        const confirmed = await confirmReset(testApp, token)
        t.equal(confirmed.statusCode, 204)
        t.notOk(confirmed.headers['set-cookie'], 'the reset does not sign the user in')

        const oldLogin = await app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email: 'ada@example.com', password: PASSWORD },
          remoteAddress: nextClientIp(),
        })
        t.equal(oldLogin.statusCode, 401, 'the old password fails')
        await login(testApp, 'ada@example.com', NEW_PASSWORD)
        for (const session of [first, second]) {
          const me = await app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${session.accessToken}` } })
          t.equal(me.statusCode, 401, 'access tokens of earlier sessions are dead')
          const refresh = await app.inject({
            method: 'POST',
            url: '/auth/refresh',
            headers: browserHeaders(session.cookie),
            remoteAddress: nextClientIp(),
          })
          t.equal(refresh.statusCode, 401, 'refresh families of earlier sessions are revoked')
        }

        const again = await confirmReset(testApp, token, 'yet another passphrase 2028')
        t.equal(again.statusCode, 400, 'the token is single-use')
        t.same(again.json(), {
          error: 'invalid_token',
          error_description: 'this password reset link is invalid, expired or already used; ask for a new one',
        })

        await deliverDueMessages(testApp.deps)
        const notice = smtp.messages.filter(
          (m) => m.to.includes('ada@example.com') && m.subject === 'Your Latchkey password was changed',
        )
        t.equal(notice.length, 1, '"your password was changed" is mailed once')
        t.ok(
          (await findUserByEmail(testApp.deps.db, 'ada@example.com'))!.emailVerified,
          'following the link proved the address',
        )
      },
    )

    t.test('an expired token is refused', async (t) => {
      await registerUser(testApp, 'expiry@example.com')
      await requestReset(testApp, 'expiry@example.com')
      const token = (await deliverResetLink(testApp, smtp, 'expiry@example.com')).searchParams.get('token')!
      testApp.clock.advance(testApp.config.resetTokenTtlMs + 1000)
      const res = await confirmReset(testApp, token)
      t.equal(res.statusCode, 400)
      t.equal(res.json().error, 'invalid_token')
      await login(testApp, 'expiry@example.com')
    })

    t.test('a newer request kills the older token', async (t) => {
      await registerUser(testApp, 'twice@example.com')
      await requestReset(testApp, 'twice@example.com')
      const older = (await deliverResetLink(testApp, smtp, 'twice@example.com')).searchParams.get('token')!
      await requestReset(testApp, 'twice@example.com')
      t.equal((await confirmReset(testApp, older)).statusCode, 400, 'dead as soon as the newer request is made')
      const newer = (await deliverResetLink(testApp, smtp, 'twice@example.com')).searchParams.get('token')!
      t.equal((await confirmReset(testApp, older)).statusCode, 400, 'and after the newer mail went out')
      t.equal((await confirmReset(testApp, newer)).statusCode, 204)
    })

    t.test('Host and X-Forwarded-Host do not change the link', async (t) => {
      await registerUser(testApp, 'host@example.com')
      await requestReset(testApp, 'host@example.com', { host: 'evil.example', 'x-forwarded-host': 'evil.example' })
      const mail = await deliverResetMail(testApp, smtp, 'host@example.com')
      t.equal(linkIn(mail, '/reset-password').host, 'id.example.com')
      t.notMatch(mail.raw, 'evil.example')
    })

    t.test('a known and an unknown address get identical answers, and only the known one gets mail', async (t) => {
      await registerUser(testApp, 'known@example.com')
      await deliverDueMessages(testApp.deps)
      const before = smtp.messages.length
      const known = await requestReset(testApp, 'known@example.com')
      const unknown = await requestReset(testApp, 'unknown@example.com')
      const headersOf = (res: typeof known) =>
        Object.fromEntries(Object.entries(res.headers).filter(([k]) => k !== 'date'))
      t.equal(unknown.statusCode, known.statusCode)
      t.equal(unknown.body, known.body)
      t.same(headersOf(unknown), headersOf(known))
      const report = await deliverDueMessages(testApp.deps)
      t.same(report, { sent: 1, retrying: 0, failed: 0, discarded: 1 })
      t.same(
        smtp.messages.slice(before).map((m) => m.to),
        [['known@example.com']],
      )
    })

    t.test('a malformed address also answers 202 alike', async (t) => {
      const res = await requestReset(testApp, 'not an address')
      t.equal(res.statusCode, 202)
      t.same(res.json(), (await requestReset(testApp, 'someone@example.com')).json())
    })

    t.test('per account, a fourth request within 15 minutes sends nothing more but answers the same', async (t) => {
      await registerUser(testApp, 'flood@example.com')
      await deliverDueMessages(testApp.deps)
      const before = smtp.messages.length
      const bodies = new Set<string>()
      for (let i = 0; i < 5; i++) bodies.add((await requestReset(testApp, 'flood@example.com')).body)
      t.equal(bodies.size, 1)
      await deliverDueMessages(testApp.deps)
      t.equal(
        smtp.messages.length - before,
        1,
        'three requests queued, the newest token wins, older ones are discarded',
      )
      testApp.clock.advance(15 * 60_000 + 1)
      await requestReset(testApp, 'flood@example.com')
      await deliverDueMessages(testApp.deps)
      t.equal(smtp.messages.length - before, 2, 'allowed again after the window')
    })

    t.test('the reset applies the password policy and a refused password leaves the link working', async (t) => {
      await registerUser(testApp, 'policy@example.com')
      await requestReset(testApp, 'policy@example.com')
      const token = (await deliverResetLink(testApp, smtp, 'policy@example.com')).searchParams.get('token')!
      const weak = await confirmReset(testApp, token, 'password1234')
      t.equal(weak.statusCode, 400)
      t.equal(weak.json().error, 'password_too_common')
      t.equal((await confirmReset(testApp, token)).statusCode, 204)
    })

    t.test('a reset lifts the 100-failure login lock', async (t) => {
      await registerUser(testApp, 'locked@example.com')
      for (let i = 0; i < 100; i++) await testApp.deps.loginBackoff.recordFailure('locked@example.com')
      t.match(await testApp.deps.loginBackoff.check('locked@example.com'), { allowed: false, locked: true })
      await requestReset(testApp, 'locked@example.com')
      const token = (await deliverResetLink(testApp, smtp, 'locked@example.com')).searchParams.get('token')!
      t.equal((await confirmReset(testApp, token)).statusCode, 204)
      t.same(await testApp.deps.loginBackoff.check('locked@example.com'), { allowed: true })
      await login(testApp, 'locked@example.com', NEW_PASSWORD)
    })

    t.test('a password change (signed in) also mails "your password was changed"', async (t) => {
      await registerUser(testApp, 'changer@example.com')
      const { accessToken } = await login(testApp, 'changer@example.com')
      await deliverDueMessages(testApp.deps)
      const before = smtp.messages.length
      const res = await app.inject({
        method: 'POST',
        url: '/auth/password-change',
        headers: { authorization: `Bearer ${accessToken}` },
        payload: { current_password: PASSWORD, new_password: NEW_PASSWORD },
        remoteAddress: nextClientIp(),
      })
      t.equal(res.statusCode, 204)
      await deliverDueMessages(testApp.deps)
      t.same(
        smtp.messages.slice(before).map((m) => [m.to, m.subject]),
        [[['changer@example.com'], 'Your Latchkey password was changed']],
      )
      t.match(smtp.messages.at(-1)!.text, 'https://id.example.com/reset-password')
    })

    t.test('a signed-in password change kills a pending reset link', async (t) => {
      await registerUser(testApp, 'pending@example.com')
      await requestReset(testApp, 'pending@example.com')
      const token = (await deliverResetLink(testApp, smtp, 'pending@example.com')).searchParams.get('token')!
      const { accessToken } = await login(testApp, 'pending@example.com')
      const changed = await app.inject({
        method: 'POST',
        url: '/auth/password-change',
        headers: { authorization: `Bearer ${accessToken}` },
        payload: { current_password: PASSWORD, new_password: NEW_PASSWORD },
        remoteAddress: nextClientIp(),
      })
      t.equal(changed.statusCode, 204)
      const res = await confirmReset(testApp, token, 'what the link holder wanted 2029')
      t.equal(res.statusCode, 400, 'whoever holds the older link can no longer override the new password')
      await login(testApp, 'pending@example.com', NEW_PASSWORD)
    })

    t.test('registering a taken address mails the owner, once an hour at most', async (t) => {
      await registerUser(testApp, 'owner@example.com')
      await deliverDueMessages(testApp.deps)
      const before = smtp.messages.length
      await registerUser(testApp, 'owner@example.com', 'somebody else passphrase 1')
      await registerUser(testApp, 'owner@example.com', 'somebody else passphrase 2')
      await deliverDueMessages(testApp.deps)
      const notices = smtp.messages.slice(before)
      t.same(
        notices.map((m) => [m.to, m.subject]),
        [[['owner@example.com'], 'Someone tried to register with your email address at Latchkey']],
      )
      t.match(notices[0]!.text, 'https://id.example.com/reset-password')
    })
  })
}
