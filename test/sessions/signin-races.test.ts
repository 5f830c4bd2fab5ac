import t, { type Test } from 'tap'
import { buildTestApp, registerClient, type TestApp } from '../helpers/build-test-app.js'
import { CookieJar, authorizeUrl, browse, pkcePair, signInOnPage } from '../helpers/authorize.js'
import { createSmtpServer, linkIn, type TestSmtpServer } from '../helpers/smtp-server.js'
import { testDialects } from '../helpers/test-database.js'
import { enrolTotp, passwordStep, secondStep, totpCode } from '../helpers/totp.js'
import { PASSWORD, browserHeaders, login, nextClientIp, registerUser } from '../helpers/users.js'
import { deliverDueMessages } from '../../server/mail/deliver-outbox.js'

// Finding H1 (and F2): a sign-in in flight must not survive a password reset, a password change
// or a cut-off that commits while its argon2 verify runs. The race is made deterministic with two
// instances on one database, the way a deployment runs: the racing instance's hashing slots are
// held by slow hashes (its argon2 parameters are raised), so a login there reads the user and then
// waits in the queue; the change is made on the other instance meanwhile, and the test checks it
// committed before the login went on.

const NEW_PASSWORD = 'a fresh passphrase for spring 2027'
const REDIRECT = 'https://app.example.com/callback'
// ~1 s per hash on the CI machine: far longer than a reset or change on the fast instance.
// Slow enough (hundreds of ms a hash even with @node-rs/argon2's SIMD code) that the slot-holding
// hashes outlast the sign-in's way to the hashing queue on a loaded machine and on PostgreSQL.
const SLOW_ARGON2 = { LATCHKEY_ARGON2_MEMORY_KIB: '262144', LATCHKEY_ARGON2_TIME_COST: '6' }

interface World {
  fast: TestApp
  slow: TestApp
  smtp: TestSmtpServer
}

async function twoInstances(t: Test, dialect: 'sqlite' | 'postgres'): Promise<World> {
  const smtp = await createSmtpServer(t)
  const env = { SMTP_URL: smtp.url, LATCHKEY_PUBLIC_URL: 'https://id.example.com/' }
  const fast = await buildTestApp(t, { dialect, env })
  const slow = await buildTestApp(t, {
    env: { ...env, ...SLOW_ARGON2 },
    database: fast.database,
    dataDir: fast.dataDir,
    clock: fast.clock,
  })
  return { fast, slow, smtp }
}

/**
 * Runs `signIn` on the slow instance so that it has read the user and waits for a hashing slot,
 * runs `meanwhile` to completion, checks `signIn` had not finished by then, and returns its answer.
 */
async function whileSigninWaits<R>(
  t: Test,
  slow: TestApp,
  signIn: () => Promise<R>,
  meanwhile: () => Promise<void>,
): Promise<R> {
  const hasher = slow.deps.passwordHasher
  const blockers = Array.from({ length: hasher.limits().concurrency }, () => hasher.hash('a slot-holding password'))
  let settled = false
  const pending = signIn().finally(() => {
    settled = true
  })
  const deadline = Date.now() + 30_000
  while (hasher.stats().queued === 0) {
    if (Date.now() > deadline) throw new Error('the sign-in never reached the hashing queue')
    await new Promise((resolve) => setImmediate(resolve))
  }
  await meanwhile()
  t.notOk(settled, 'the change committed while the sign-in waited for argon2 (the race happened)')
  await Promise.all(blockers)
  return pending
}

async function resetPassword(world: World, email: string): Promise<void> {
  const { fast, smtp } = world
  const asked = await fast.app.inject({
    method: 'POST',
    url: '/auth/password-reset',
    payload: { email },
    remoteAddress: nextClientIp(),
  })
  if (asked.statusCode !== 202) throw new Error(`reset request: ${asked.statusCode}`)
  const before = smtp.messages.length
  await deliverDueMessages(fast.deps)
  const mail = smtp.messages.slice(before).find((m) => m.to.includes(email) && m.subject.startsWith('Reset your'))
  if (!mail) throw new Error('no reset mail')
  const token = linkIn(mail, '/reset-password').searchParams.get('token')!
  const done = await fast.app.inject({
    method: 'POST',
    url: '/auth/password-reset/confirm',
    payload: { token, password: NEW_PASSWORD },
    remoteAddress: nextClientIp(),
  })
  if (done.statusCode !== 204) throw new Error(`reset confirm: ${done.statusCode} ${done.body}`)
}

const loginOn = (testApp: TestApp, email: string, password = PASSWORD) =>
  testApp.app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password },
    remoteAddress: nextClientIp(),
  })

async function liveSessionsOf(testApp: TestApp, email: string): Promise<number> {
  const rows = await testApp.deps.db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select('sessions.id')
    .where('users.email', '=', email)
    .where('sessions.revoked_at', 'is', null)
    .execute()
  return rows.length
}

for (const dialect of testDialects()) {
  t.test(`sign-ins racing a credential change on ${dialect}`, async (t) => {
    const world = await twoInstances(t, dialect)
    const { fast, slow } = world

    t.test('regression H1: a login with the old password in flight during a reset gets no session', async (t) => {
      await registerUser(fast, 'ada@example.com')
      const res = await whileSigninWaits(
        t,
        slow,
        () => loginOn(slow, 'ada@example.com'),
        () => resetPassword(world, 'ada@example.com'),
      )
      t.equal(res.statusCode, 401, 'the old password no longer signs in')
      t.same(res.json(), { error: 'invalid_credentials', error_description: 'the email or password is incorrect' })
      t.notOk(res.headers['set-cookie'], 'no session cookie')
      t.equal(await liveSessionsOf(fast, 'ada@example.com'), 0, 'no session was written')
      t.equal((await loginOn(fast, 'ada@example.com', NEW_PASSWORD)).statusCode, 200, 'the new password works')
    })

    t.test(
      'regression H1/F2: a login in flight during a signed-in password change gets no session and never rehashes the old password back',
      async (t) => {
        await registerUser(fast, 'grace@example.com')
        const { accessToken } = await login(fast, 'grace@example.com')
        const res = await whileSigninWaits(
          t,
          slow,
          () => loginOn(slow, 'grace@example.com'),
          async () => {
            const changed = await fast.app.inject({
              method: 'POST',
              url: '/auth/password-change',
              headers: { ...browserHeaders(), authorization: `Bearer ${accessToken}` },
              payload: { current_password: PASSWORD, new_password: NEW_PASSWORD },
              remoteAddress: nextClientIp(),
            })
            if (changed.statusCode !== 204) throw new Error(`change: ${changed.statusCode} ${changed.body}`)
          },
        )
        t.equal(res.statusCode, 401, 'the old password no longer signs in')
        t.equal(await liveSessionsOf(fast, 'grace@example.com'), 1, 'only the session that made the change')
        // The slow instance's parameters differ, so its login rehashed the password it verified:
        // written blindly, that rehash would have put the old password back (finding F2).
        t.equal((await loginOn(fast, 'grace@example.com')).statusCode, 401, 'the old password stays replaced')
        t.equal((await loginOn(fast, 'grace@example.com', NEW_PASSWORD)).statusCode, 200, 'the new one works')
      },
    )

    t.test('regression H1: a login in flight during logout-all is cut off by its auth_time', async (t) => {
      await registerUser(fast, 'barbara@example.com')
      const { accessToken } = await login(fast, 'barbara@example.com')
      const res = await whileSigninWaits(
        t,
        slow,
        () => loginOn(slow, 'barbara@example.com'),
        async () => {
          // The cut-off is a millisecond later than the moment the login's check began.
          fast.clock.advance(1)
          const out = await fast.app.inject({
            method: 'POST',
            url: '/auth/logout-all',
            headers: { authorization: `Bearer ${accessToken}` },
            remoteAddress: nextClientIp(),
          })
          if (out.statusCode !== 204) throw new Error(`logout-all: ${out.statusCode} ${out.body}`)
        },
      )
      t.equal(res.statusCode, 401)
      t.equal(await liveSessionsOf(fast, 'barbara@example.com'), 0)
    })

    t.test(
      'regression H1: a hosted sign-in in flight during a reset starts no sign-in and mints no code',
      async (t) => {
        await registerUser(fast, 'mary@example.com')
        const client = await registerClient(fast, {
          type: 'public',
          grantTypes: ['authorization_code'],
          scopes: ['openid'],
          redirectUris: [REDIRECT],
        })
        const jar = new CookieJar()
        const url = authorizeUrl({ clientId: client.id, redirectUri: REDIRECT, challenge: pkcePair().challenge })
        const page = await browse(slow, jar, url)
        const res = await whileSigninWaits(
          t,
          slow,
          () => signInOnPage(slow, jar, page.body, 'mary@example.com'),
          () => resetPassword(world, 'mary@example.com'),
        )
        t.equal(res.statusCode, 401, 'the sign-in page again, with the error')
        t.notOk(res.headers.location, 'no redirect with a code')
        const again = await browse(slow, jar, url)
        t.equal(again.statusCode, 200, 'the next authorization request asks for a password')
        t.match(again.body, 'name="password"')
        const signins = await fast.deps.db.selectFrom('signin_sessions').select('id').execute()
        t.equal(signins.length, 0, 'no hosted sign-in was written')
      },
    )

    t.test('regression H1: a second step begun before a password change cannot finish', async (t) => {
      await registerUser(fast, 'hedy@example.com')
      const { secret, accessToken } = await enrolTotp(fast, 'hedy@example.com')
      const mfaToken = await passwordStep(fast, 'hedy@example.com')
      fast.clock.advance(1)
      const changed = await fast.app.inject({
        method: 'POST',
        url: '/auth/password-change',
        headers: { ...browserHeaders(), authorization: `Bearer ${accessToken}` },
        payload: { current_password: PASSWORD, new_password: NEW_PASSWORD },
        remoteAddress: nextClientIp(),
      })
      t.equal(changed.statusCode, 204)
      const res = await secondStep(fast, mfaToken, totpCode(secret, fast.clock.now()))
      t.equal(res.statusCode, 401, 'the password step was made with the replaced password')
      t.same(res.json(), { error: 'invalid_credentials', error_description: 'the email or password is incorrect' })
      t.equal(await liveSessionsOf(fast, 'hedy@example.com'), 1, 'only the session that made the change')
    })
  })
}
