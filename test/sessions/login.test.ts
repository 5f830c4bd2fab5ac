import t from 'tap'
import { buildTestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { PASSWORD, claimsOf, login, nextClientIp, registerUser } from '../helpers/users.js'
import { findUserByEmail } from '../../server/users/user.store.js'

for (const dialect of testDialects()) {
  t.test(`registration and login on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const { app } = testApp

    t.test(
      'registration answers the same for a new and a taken address, and a taken one changes nothing',
      async (t) => {
        const first = await app.inject({
          method: 'POST',
          url: '/auth/register',
          payload: { email: 'Ada@Example.com', password: PASSWORD, name: 'Ada' },
          remoteAddress: nextClientIp(),
        })
        const before = await findUserByEmail(testApp.deps.db, 'ada@example.com')
        const second = await app.inject({
          method: 'POST',
          url: '/auth/register',
          payload: { email: ' ada@EXAMPLE.com ', password: 'another long passphrase 99', name: 'Mallory' },
          remoteAddress: nextClientIp(),
        })
        t.equal(first.statusCode, 202)
        t.equal(second.statusCode, 202)
        t.same(second.json(), first.json())
        t.same(first.json(), {
          status: 'accepted',
          message: 'If this address can be registered, a verification email is on its way.',
        })
        const strip = (h: Record<string, unknown>) =>
          Object.keys(h)
            .filter((k) => k !== 'date')
            .sort()
        t.same(strip(second.headers), strip(first.headers))
        t.same(await findUserByEmail(testApp.deps.db, 'ada@example.com'), before, 'the existing account is untouched')
        t.equal(before?.email, 'ada@example.com', 'stored in canonical form')
        t.not(before?.id, 'ada@example.com', 'the id is opaque')
      },
    )

    const refusals: [string, object, object][] = [
      [
        'an invalid email',
        { email: 'not-an-email', password: PASSWORD },
        { error: 'invalid_email', error_description: 'this is not a valid email address' },
      ],
      ['a short password', { email: 'b@example.com', password: 'short pass' }, { error: 'password_too_short' }],
      ['a common password', { email: 'b@example.com', password: 'password1234' }, { error: 'password_too_common' }],
      [
        'a password containing the email name',
        { email: 'barbara@example.com', password: 'barbara-is-my-name-ok' },
        { error: 'password_contains_email' },
      ],
      [
        'a password over 1,024 bytes',
        { email: 'b@example.com', password: 'é'.repeat(513) },
        { error: 'password_too_long' },
      ],
    ]
    for (const [name, payload, body] of refusals) {
      t.test(`registration refuses ${name}`, async (t) => {
        const res = await app.inject({ method: 'POST', url: '/auth/register', payload, remoteAddress: nextClientIp() })
        t.equal(res.statusCode, 400)
        t.match(res.json(), body)
      })
    }

    t.test('login returns an access token with the user claims and sets the session cookie exactly', async (t) => {
      await registerUser(testApp, 'grace@example.com', PASSWORD, 'Grace')
      const res = await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: 'GRACE@example.com', password: PASSWORD },
        remoteAddress: nextClientIp(),
      })
      t.equal(res.statusCode, 200)
      t.same(Object.keys(res.json()).sort(), ['access_token', 'expires_in', 'token_type'])
      t.equal(res.headers['cache-control'], 'no-store')
      const cookie = res.headers['set-cookie'] as string
      t.match(
        cookie,
        /^__Host-latchkey_session=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}; Max-Age=2592000; Path=\/; HttpOnly; Secure; SameSite=Strict$/,
      )
      const claims = claimsOf(res.json().access_token)
      const user = await findUserByEmail(testApp.deps.db, 'grace@example.com')
      t.match(claims, {
        sub: user!.id,
        client_id: 'latchkey',
        aud: testApp.config.defaultAudience,
        amr: ['pwd'],
        email: 'grace@example.com',
        email_verified: false,
        iss: testApp.config.issuer,
      })
      t.type(claims.sid, 'string')
      t.equal(claims.auth_time, Math.floor(testApp.clock.now() / 1000))
      const me = await app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${res.json().access_token}` } })
      t.same(me.json(), {
        id: user!.id,
        email: 'grace@example.com',
        name: 'Grace',
        email_verified: false,
        created_at: new Date(user!.createdAt).toISOString(),
      })
      const info = await app.inject({
        url: '/oauth/userinfo',
        headers: { authorization: `Bearer ${res.json().access_token}` },
      })
      // OIDC Core §5.3.1: userinfo is for grants with `openid`; the first-party session has /auth/me.
      t.equal(info.statusCode, 403)
      t.same(info.json(), {
        error: 'insufficient_scope',
        error_description: 'this request needs an access token with the scope openid',
      })
    })

    t.test('wrong password, unknown email and disabled account are indistinguishable', async (t) => {
      await registerUser(testApp, 'hopper@example.com')
      await registerUser(testApp, 'disabled@example.com')
      const disabled = await findUserByEmail(testApp.deps.db, 'disabled@example.com')
      await testApp.deps.db.updateTable('users').set({ disabled: 1 }).where('id', '=', disabled!.id).execute()
      const attempt = (email: string, password: string) =>
        app.inject({ method: 'POST', url: '/auth/login', payload: { email, password }, remoteAddress: nextClientIp() })
      const responses = [
        await attempt('hopper@example.com', 'wrong password here!'),
        await attempt('nobody@example.com', PASSWORD),
        await attempt('disabled@example.com', PASSWORD),
      ]
      for (const res of responses) {
        t.equal(res.statusCode, 401)
        t.same(res.json(), { error: 'invalid_credentials', error_description: 'the email or password is incorrect' })
      }
      const headersOf = (res: (typeof responses)[number]) =>
        Object.fromEntries(Object.entries(res.headers).filter(([k]) => k !== 'date'))
      t.same(headersOf(responses[1]!), headersOf(responses[0]!), 'same headers for unknown email')
      t.same(headersOf(responses[2]!), headersOf(responses[0]!), 'same headers for disabled account')
      t.equal(responses[0]!.body, responses[1]!.body)
    })

    t.test('a password over 1,024 bytes is refused without hashing', async (t) => {
      const before = testApp.deps.passwordHasher.stats()
      const res = await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: 'grace@example.com', password: 'x'.repeat(5000) },
        remoteAddress: nextClientIp(),
      })
      t.equal(res.statusCode, 400)
      t.equal(res.json().error, 'password_too_long')
      const huge = await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: 'grace@example.com', password: 'x'.repeat(1024 * 1024) },
      })
      t.equal(huge.statusCode, 413, 'a 1 MB body never reaches the handler')
      t.same(testApp.deps.passwordHasher.stats(), before)
    })

    t.test('back-off engages after repeated failures and releases with time', async (t) => {
      await registerUser(testApp, 'lovelace@example.com')
      const attempt = (password: string) =>
        app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email: 'lovelace@example.com', password },
          remoteAddress: nextClientIp(),
        })
      for (let i = 0; i < 5; i++) t.equal((await attempt('wrong password number')).statusCode, 401)
      const blocked = await attempt(PASSWORD)
      t.equal(blocked.statusCode, 429, 'even the right password waits')
      t.equal(blocked.json().error, 'too_many_attempts')
      t.ok(Number(blocked.headers['retry-after']) >= 1)
      testApp.clock.advance(Number(blocked.headers['retry-after']) * 1000)
      t.equal((await attempt(PASSWORD)).statusCode, 200, 'released once the delay has passed')
      t.equal((await attempt('wrong password number')).statusCode, 401, 'and success reset the counter')
    })

    t.test('the per-IP rate limit cannot be escaped by rotating X-Forwarded-For', async (t) => {
      const statuses: number[] = []
      for (let i = 0; i < 12; i++) {
        const res = await app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email: `nobody${i}@example.com`, password: PASSWORD },
          remoteAddress: '192.0.2.7',
          headers: { 'x-forwarded-for': `203.0.113.${i}` },
        })
        statuses.push(res.statusCode)
      }
      t.ok(statuses.includes(429), `limited: ${statuses.join(',')}`)
      const limited = statuses.indexOf(429)
      t.ok(statuses.slice(0, limited).every((s) => s === 401))
    })

    t.test('security events are recorded without secrets', async (t) => {
      const events = await testApp.deps.db.selectFrom('audit_events').selectAll().execute()
      const names = new Set(events.map((e) => e.event))
      for (const name of [
        'user.registered',
        'user.register_existing',
        'login.succeeded',
        'login.failed',
        'login.backoff',
      ])
        t.ok(names.has(name), name)
      t.notOk(JSON.stringify(events).includes(PASSWORD))
    })
  })
}

t.test('a proxy that is trusted gives each forwarded client its own budget', async (t) => {
  const testApp = await buildTestApp(t, { env: { LATCHKEY_TRUST_PROXY: '127.0.0.1' } })
  for (let i = 0; i < 12; i++) {
    const res = await testApp.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: `x${i}@example.com`, password: PASSWORD },
      headers: { 'x-forwarded-for': `203.0.113.${i}` },
    })
    t.equal(res.statusCode, 401, `client ${i} has its own budget`)
  }
})

t.test('an existing login keeps working after the argon2 parameters change, and the hash is upgraded', async (t) => {
  const dataDir = t.testdir()
  const first = await buildTestApp(t, {
    dataDir,
    env: { LATCHKEY_ARGON2_MEMORY_KIB: '8192', LATCHKEY_ARGON2_TIME_COST: '1' },
  })
  await registerUser(first, 'turing@example.com')
  const oldHash = (await findUserByEmail(first.deps.db, 'turing@example.com'))!.passwordHash
  t.match(oldHash, /^\$argon2id\$v=19\$m=8192,t=1,p=1\$/)
  await first.close()
  const second = await buildTestApp(t, { dataDir, database: first.database })
  await login(second, 'turing@example.com')
  t.match(
    (await findUserByEmail(second.deps.db, 'turing@example.com'))!.passwordHash,
    /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/,
  )
})

t.test('LATCHKEY_RATE_LIMITS=false counts nothing', async (t) => {
  const testApp = await buildTestApp(t, { env: { LATCHKEY_RATE_LIMITS: 'false' } })
  for (let i = 0; i < 12; i++) {
    const res = await testApp.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: `y${i}@example.com`, password: PASSWORD },
      remoteAddress: '192.0.2.9',
    })
    t.equal(res.statusCode, 401)
  }
})

t.test('login and registration take JSON only, so a cross-site form cannot sign anyone in', async (t) => {
  const testApp = await buildTestApp(t)
  await registerUser(testApp, 'csrf@example.com')
  for (const url of ['/auth/login', '/auth/register']) {
    const res = await testApp.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      payload: `email=csrf%40example.com&password=${encodeURIComponent(PASSWORD)}`,
      remoteAddress: nextClientIp(),
    })
    t.equal(res.statusCode, 415, url)
    t.same(res.json(), { error: 'invalid_request', error_description: 'unsupported content type' })
    t.notOk(res.headers['set-cookie'])
  }
})
