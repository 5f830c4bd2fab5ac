import t from 'tap'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { enrolTotp, passwordStep, secondStep, totpCode } from '../helpers/totp.js'
import { PASSWORD, claimsOf, login, nextClientIp, registerUser, sessionCookieOf } from '../helpers/users.js'
import { renderMail } from '../../server/mail/mail-templates.js'
import { cliEnv, runLatchkey } from '../helpers/run-cli.js'

const STEP = 30_000

/** The messages queued for a user, rendered as they would be sent. */
async function mailsOf(testApp: TestApp, email: string) {
  const user = await testApp.deps.db
    .selectFrom('users')
    .select('id')
    .where('email', '=', email)
    .executeTakeFirstOrThrow()
  const rows = await testApp.deps.db
    .selectFrom('outbox')
    .selectAll()
    .where('user_id', '=', user.id)
    .orderBy('created_at')
    .execute()
  const mails = []
  for (const row of rows) {
    const composed = await testApp.deps.composeMail(row)
    mails.push({ template: row.template, text: composed ? renderMail(testApp.config, composed.content).text : null })
  }
  return mails
}

async function auditEventsOf(testApp: TestApp, event: string) {
  return testApp.deps.db.selectFrom('audit_events').selectAll().where('event', '=', event).execute()
}

for (const dialect of testDialects()) {
  t.test(`TOTP and recovery codes on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const { app, clock } = testApp
    let n = 0
    const newUser = async () => {
      const email = `user${++n}@example.com`
      await registerUser(testApp, email)
      return email
    }
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

    t.test(
      'enrolment: setup gives a secret and URI, confirm activates it and returns 10 recovery codes once',
      async (t) => {
        const email = await newUser()
        const { accessToken } = await login(testApp, email)
        const before = await app.inject({ method: 'GET', url: '/auth/mfa', headers: bearer(accessToken) })
        t.same(before.json(), { totp: false, totp_added_at: null, recovery_codes_left: 0 })

        const setup = await app.inject({ method: 'POST', url: '/auth/mfa/totp/setup', headers: bearer(accessToken) })
        t.equal(setup.statusCode, 200)
        t.equal(setup.headers['cache-control'], 'no-store')
        const { secret, otpauth_uri } = setup.json<{ secret: string; otpauth_uri: string }>()
        t.match(secret, /^[A-Z2-7]{32}$/, '160 bits in base32')
        const uri = new URL(otpauth_uri)
        t.equal(uri.protocol, 'otpauth:')
        t.equal(uri.host, 'totp')
        t.equal(uri.searchParams.get('secret'), secret)
        t.equal(uri.searchParams.get('algorithm'), 'SHA1')
        t.equal(uri.searchParams.get('digits'), '6')
        t.equal(uri.searchParams.get('period'), '30')
        t.equal(uri.searchParams.get('issuer'), 'Latchkey')

        const stored = await testApp.deps.db.selectFrom('totp_factors').selectAll().executeTakeFirstOrThrow()
        t.notMatch(stored.secret_sealed, secret, 'the secret is not stored in clear')
        t.equal(stored.secret_sealed.split('.').length, 5, 'a compact JWE')

        // Not active before confirmation: the password alone still signs in.
        await login(testApp, email)

        const wrong = await app.inject({
          method: 'POST',
          url: '/auth/mfa/totp/confirm',
          headers: bearer(accessToken),
          payload: { code: totpCode(secret, clock.now() + 5 * STEP) },
        })
        t.equal(wrong.statusCode, 400)
        t.same(wrong.json(), {
          error: 'invalid_mfa_code',
          error_description: 'the code is incorrect; check the time on your device',
        })

        const confirm = await app.inject({
          method: 'POST',
          url: '/auth/mfa/totp/confirm',
          headers: bearer(accessToken),
          payload: { code: totpCode(secret, clock.now()) },
        })
        t.equal(confirm.statusCode, 200)
        const codes = confirm.json<{ recovery_codes: string[] }>().recovery_codes
        t.equal(codes.length, 10)
        t.equal(new Set(codes).size, 10)
        for (const code of codes) t.match(code, /^[a-z2-9]{5}-[a-z2-9]{5}$/)
        const hashes = await testApp.deps.db.selectFrom('recovery_codes').select('code_hash').execute()
        t.equal(hashes.length, 10)
        t.notOk(
          hashes.some((h) => codes.some((c) => h.code_hash.includes(c.replace('-', '')))),
          'only hashes are stored',
        )

        const after = await app.inject({ method: 'GET', url: '/auth/mfa', headers: bearer(accessToken) })
        t.same(after.json(), {
          totp: true,
          totp_added_at: new Date(clock.now()).toISOString(),
          recovery_codes_left: 10,
        })
        const again = await app.inject({ method: 'POST', url: '/auth/mfa/totp/setup', headers: bearer(accessToken) })
        t.equal(again.statusCode, 409)
        t.equal(again.json().error, 'mfa_already_enrolled')

        t.same(
          (await mailsOf(testApp, email)).map((m) => m.template),
          ['verify_email', 'mfa_added'],
          'the owner is told',
        )
        t.equal((await auditEventsOf(testApp, 'mfa.totp_added')).length, 1)
        clock.advance(STEP)
      },
    )

    t.test(
      'enrolment, regeneration and removal without a fresh sign-in are refused unless the password comes along',
      async (t) => {
        const email = await newUser()
        const { accessToken } = await login(testApp, email)
        clock.advance(5 * 60_000 + 1_000)
        const refusal = {
          error: 'reauthentication_required',
          error_description: 'this needs a sign-in from the last 5 minutes, or your password in the request',
        }
        const stale = await app.inject({ method: 'POST', url: '/auth/mfa/totp/setup', headers: bearer(accessToken) })
        t.equal(stale.statusCode, 403)
        t.same(stale.json(), refusal)
        const wrongPassword = await app.inject({
          method: 'POST',
          url: '/auth/mfa/totp/setup',
          headers: bearer(accessToken),
          payload: { password: 'not the password at all' },
        })
        t.equal(wrongPassword.statusCode, 403)
        t.same(wrongPassword.json(), { error: 'invalid_credentials', error_description: 'the password is incorrect' })
        const withPassword = await app.inject({
          method: 'POST',
          url: '/auth/mfa/totp/setup',
          headers: bearer(accessToken),
          payload: { password: PASSWORD },
        })
        t.equal(withPassword.statusCode, 200)
        const { secret } = withPassword.json<{ secret: string }>()
        const confirm = await app.inject({
          method: 'POST',
          url: '/auth/mfa/totp/confirm',
          headers: bearer(accessToken),
          payload: { code: totpCode(secret, clock.now()) },
        })
        t.equal(confirm.statusCode, 200)

        for (const [method, url] of [
          ['POST', '/auth/mfa/recovery-codes'],
          ['DELETE', '/auth/mfa/totp'],
        ] as const) {
          const res = await app.inject({ method, url, headers: bearer(accessToken) })
          t.equal(res.statusCode, 403, `${method} ${url}`)
          t.same(res.json(), refusal)
        }
        const status = await app.inject({ method: 'GET', url: '/auth/mfa', headers: bearer(accessToken) })
        t.equal(status.json().totp, true, 'the factor is still there')
        clock.advance(STEP)
      },
    )

    t.test('sign-in: mfa_required and no session, then a current code opens it with amr pwd otp mfa', async (t) => {
      const email = await newUser()
      const { secret } = await enrolTotp(testApp, email)
      const first = await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email, password: PASSWORD },
        remoteAddress: nextClientIp(),
      })
      t.equal(first.statusCode, 401)
      t.equal(first.headers['set-cookie'], undefined, 'no session cookie')
      t.equal(first.headers['cache-control'], 'no-store')
      const body = first.json<{ mfa_token: string }>()
      t.match(body.mfa_token, /^[A-Za-z0-9_-]{43}$/)
      t.same(body, {
        error: 'mfa_required',
        error_description: 'a second factor is required: send a code from your authenticator app or a recovery code',
        mfa_token: body.mfa_token,
      })
      const second = await secondStep(testApp, body.mfa_token, totpCode(secret, clock.now()))
      t.equal(second.statusCode, 200, second.body)
      sessionCookieOf(second.headers['set-cookie'])
      const claims = claimsOf(second.json<{ access_token: string }>().access_token)
      t.same(claims.amr, ['pwd', 'otp', 'mfa'])
      const reused = await secondStep(testApp, body.mfa_token, totpCode(secret, clock.now() + STEP))
      t.equal(reused.statusCode, 401, 'the mfa_token is single use')
      t.same(reused.json(), {
        error: 'invalid_mfa_token',
        error_description: 'the sign-in has expired or was already finished; sign in again',
      })
      clock.advance(STEP)
    })

    t.test('a code is accepted once: a replay in the same window is refused', async (t) => {
      const email = await newUser()
      const { secret } = await enrolTotp(testApp, email)
      const code = totpCode(secret, clock.now())
      t.equal((await secondStep(testApp, await passwordStep(testApp, email), code)).statusCode, 200)
      const replay = await secondStep(testApp, await passwordStep(testApp, email), code)
      t.equal(replay.statusCode, 401)
      t.same(replay.json(), {
        error: 'invalid_mfa_code',
        error_description: 'the code is incorrect or was already used',
      })
      const older = await secondStep(testApp, await passwordStep(testApp, email), totpCode(secret, clock.now() - STEP))
      t.equal(older.statusCode, 401, 'nor a code of an earlier step once a later one was used')
      clock.advance(STEP)
    })

    t.test('clock skew: one step either side is accepted, two are not', async (t) => {
      const email = await newUser()
      const { secret } = await enrolTotp(testApp, email)
      // enrolTotp used the step before the current one; move on so the previous step is unused.
      clock.advance(STEP)
      const tooOld = await secondStep(
        testApp,
        await passwordStep(testApp, email),
        totpCode(secret, clock.now() - 2 * STEP),
      )
      t.equal(tooOld.statusCode, 401)
      const tooNew = await secondStep(
        testApp,
        await passwordStep(testApp, email),
        totpCode(secret, clock.now() + 2 * STEP),
      )
      t.equal(tooNew.statusCode, 401)
      const behind = await secondStep(testApp, await passwordStep(testApp, email), totpCode(secret, clock.now() - STEP))
      t.equal(behind.statusCode, 200, 'the previous step')
      clock.advance(3 * STEP)
      const ahead = await secondStep(testApp, await passwordStep(testApp, email), totpCode(secret, clock.now() + STEP))
      t.equal(ahead.statusCode, 200, 'the next step')
      clock.advance(2 * STEP)
    })

    t.test('the mfa_token expires after 5 minutes', async (t) => {
      const email = await newUser()
      const { secret } = await enrolTotp(testApp, email)
      const token = await passwordStep(testApp, email)
      clock.advance(5 * 60_000)
      const late = await secondStep(testApp, token, totpCode(secret, clock.now()))
      t.equal(late.statusCode, 401)
      t.equal(late.json().error, 'invalid_mfa_token')
    })

    t.test(
      '5 wrong codes kill the mfa_token and feed the account back-off; a right password does not clear it',
      async (t) => {
        const email = await newUser()
        const { secret } = await enrolTotp(testApp, email)
        const token = await passwordStep(testApp, email)
        const wrong = totpCode(secret, clock.now() + 10 * STEP)
        for (let i = 1; i <= 4; i++) {
          const res = await secondStep(testApp, token, wrong)
          t.same(res.json(), {
            error: 'invalid_mfa_code',
            error_description: 'the code is incorrect or was already used',
          })
        }
        const fifth = await secondStep(testApp, token, 'zzzzz-zzzzz')
        t.same(fifth.json(), {
          error: 'invalid_mfa_code',
          error_description: 'the code is incorrect; too many wrong codes, sign in again',
        })
        // Five failures on the account: the next attempt waits (login-backoff.ts), password step included.
        const waiting = await app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email, password: PASSWORD },
          remoteAddress: nextClientIp(),
        })
        t.equal(waiting.statusCode, 429)
        t.equal(waiting.json().error, 'too_many_attempts')
        clock.advance(2_000)
        const dead = await secondStep(testApp, token, totpCode(secret, clock.now()))
        t.equal(dead.statusCode, 401)
        t.equal(dead.json().error, 'invalid_mfa_token', 'even the right code cannot revive it')

        clock.advance(2_000)
        const fresh = await passwordStep(testApp, email)
        const once = await secondStep(testApp, fresh, wrong)
        t.equal(once.statusCode, 401)
        const gate = await secondStep(testApp, fresh, totpCode(secret, clock.now()))
        t.equal(gate.statusCode, 429, 'the right password did not forgive the wrong codes: the back-off still applies')
        t.ok(Number(gate.headers['retry-after']) > 0)
        clock.advance(5_000)
        const done = await secondStep(testApp, fresh, totpCode(secret, clock.now()))
        t.equal(done.statusCode, 200, done.body)
        t.ok((await auditEventsOf(testApp, 'mfa.failed')).length >= 6)
        clock.advance(STEP)
      },
    )

    t.test(
      'a recovery code works once, in any case and spacing, and the owner is told how many are left',
      async (t) => {
        const email = await newUser()
        const { recoveryCodes } = await enrolTotp(testApp, email)
        const typed = ` ${recoveryCodes[3]!.toUpperCase().replace('-', ' ')} `
        const used = await secondStep(testApp, await passwordStep(testApp, email), typed)
        t.equal(used.statusCode, 200, used.body)
        t.same(claimsOf(used.json<{ access_token: string }>().access_token).amr, ['pwd', 'otp', 'mfa'])
        const again = await secondStep(testApp, await passwordStep(testApp, email), recoveryCodes[3]!)
        t.equal(again.statusCode, 401)
        t.equal(again.json().error, 'invalid_mfa_code')
        const mail = (await mailsOf(testApp, email)).find((m) => m.template === 'recovery_code_used')
        t.match(mail?.text, /9 unused codes are left/)
        const { accessToken } = await login(testApp, email).catch(() => ({ accessToken: '' }))
        t.equal(accessToken, '', 'the password alone does not sign in')
        const events = await auditEventsOf(testApp, 'mfa.recovery_code_used')
        t.same(JSON.parse(events.at(-1)!.details!), { method: 'recovery_code', remaining: 9 })
        clock.advance(2_000)
      },
    )

    t.test(
      'regenerated recovery codes replace the old ones; removing the factor restores password sign-in',
      async (t) => {
        const email = await newUser()
        const { recoveryCodes, accessToken } = await enrolTotp(testApp, email)
        const regenerated = await app.inject({
          method: 'POST',
          url: '/auth/mfa/recovery-codes',
          headers: bearer(accessToken),
        })
        t.equal(regenerated.statusCode, 200)
        const fresh = regenerated.json<{ recovery_codes: string[] }>().recovery_codes
        t.equal(fresh.length, 10)
        const old = await secondStep(testApp, await passwordStep(testApp, email), recoveryCodes[0]!)
        t.equal(old.statusCode, 401, 'an old code no longer works')
        const ok = await secondStep(testApp, await passwordStep(testApp, email), fresh[0]!)
        t.equal(ok.statusCode, 200)

        const removed = await app.inject({ method: 'DELETE', url: '/auth/mfa/totp', headers: bearer(accessToken) })
        t.equal(removed.statusCode, 204)
        await login(testApp, email)
        t.same(
          (await mailsOf(testApp, email)).map((m) => m.template),
          ['verify_email', 'mfa_added', 'recovery_code_used', 'mfa_removed'],
        )
        t.equal((await auditEventsOf(testApp, 'mfa.totp_removed')).length, 1)
      },
    )

    t.test('bad input to the second step gets a clear error, never a 500', async (t) => {
      const cases: [unknown, number, string][] = [
        [{}, 400, 'mfa_token is required'],
        [{ mfa_token: 'x' }, 400, 'code is required'],
        [{ mfa_token: 'x', code: '' }, 400, 'code must not be empty'],
        [{ mfa_token: 'x'.repeat(300), code: '123456' }, 400, 'mfa_token is too long'],
        [
          { mfa_token: 'unknown', code: '123456' },
          401,
          'the sign-in has expired or was already finished; sign in again',
        ],
      ]
      for (const [payload, status, description] of cases) {
        const res = await app.inject({ method: 'POST', url: '/auth/login/mfa', payload: payload as object })
        t.equal(res.statusCode, status, JSON.stringify(payload))
        t.equal(res.json().error_description, description)
      }
    })
  })

  t.test(`a code is taken once across two instances on one ${dialect} database`, async (t) => {
    const one = await buildTestApp(t, { dialect })
    const two = await buildTestApp(t, { dialect, database: one.database, dataDir: one.dataDir, clock: one.clock })
    await registerUser(one, 'twin@example.com')
    const { secret } = await enrolTotp(one, 'twin@example.com')
    const code = totpCode(secret, one.clock.now())
    const tokens = [await passwordStep(one, 'twin@example.com'), await passwordStep(two, 'twin@example.com')]
    const answers = await Promise.all([secondStep(one, tokens[0]!, code), secondStep(two, tokens[1]!, code)])
    t.same(answers.map((a) => a.statusCode).sort(), [200, 401], 'exactly one instance accepts it')
  })
}

t.test('latchkey users reset-mfa removes the factor, ends every session and mails the user', async (t) => {
  const testApp = await buildTestApp(t)
  await registerUser(testApp, 'lost@example.com')
  const { accessToken } = await enrolTotp(testApp, 'lost@example.com')
  const env = cliEnv(testApp.dataDir, testApp.database)
  const reset = await runLatchkey(['users', 'reset-mfa', 'LOST@example.com', '--json'], env)
  t.equal(reset.code, 0, reset.stderr)
  t.match(JSON.parse(reset.stdout), { email: 'lost@example.com', factors_removed: ['totp'], sessions_revoked: 1 })
  // The CLI stamps its writes with the system clock; the app's clock catches up.
  testApp.clock.set(Math.max(testApp.clock.now(), Date.now()) + 1_000)
  const me = await testApp.app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${accessToken}` } })
  t.equal(me.statusCode, 401, 'the session ended')
  await login(testApp, 'lost@example.com')
  const removed = (await mailsOf(testApp, 'lost@example.com')).find((m) => m.template === 'mfa_removed')
  t.match(removed?.text, /An administrator removed the authenticator app/)
  t.equal((await auditEventsOf(testApp, 'mfa.reset_by_operator')).length, 1)

  const again = await runLatchkey(['users', 'reset-mfa', 'lost@example.com'], env)
  t.equal(again.code, 1)
  t.match(again.stderr, /lost@example.com has no second factor/)
})
