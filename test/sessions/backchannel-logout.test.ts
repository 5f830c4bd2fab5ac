import http from 'node:http'
import { randomUUID } from 'node:crypto'
import net, { type AddressInfo } from 'node:net'
import t from 'tap'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { buildTestApp, registerClient, type TestApp, type TestClient } from '../helpers/build-test-app.js'
import {
  CookieJar,
  authorizeUrl,
  browse,
  exchangeCode,
  pkcePair,
  redirectParams,
  signInOnPage,
} from '../helpers/authorize.js'
import { testDialects } from '../helpers/test-database.js'
import { claimsOf, login, registerUser } from '../helpers/users.js'
import { cliEnv, runLatchkey } from '../helpers/run-cli.js'
import { deliverDueBackchannelLogouts } from '../../server/sessions/deliver-backchannel-logouts.js'
import { revokeSessionAsAdmin } from '../../server/admin/session-admin.js'

// OpenID Connect Back-Channel Logout 1.0: a real HTTP receiver on loopback gets the logout token,
// verified with jose against the served JWKS; delivery goes through the outbox table.

const REDIRECT = 'https://rp.example.com/cb'
const EVENT = 'http://schemas.openid.net/event/backchannel-logout'

interface Receiver {
  url: string
  /** The logout tokens received, in order, and the content type each came with. */
  received: Array<{ token: string | null; contentType: string | undefined }>
  /** Statuses to answer with, one per request; 200 once they run out. */
  statuses: number[]
}

/** A client's back-channel logout endpoint: a node:http server on loopback. */
async function startReceiver(t: Tap): Promise<Receiver> {
  const receiver: Receiver = { url: '', received: [], statuses: [] }
  const server = http.createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => (body += chunk))
    req.on('end', () => {
      receiver.received.push({
        token: new URLSearchParams(body).get('logout_token'),
        contentType: req.headers['content-type'],
      })
      res.writeHead(receiver.statuses.shift() ?? 200, { 'cache-control': 'no-store' }).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/backchannel`
  return receiver
}
type Tap = Parameters<typeof buildTestApp>[0]

/** Real time passing while a real HTTP exchange happens (the app's clock does not move). */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function openApp(testApp: TestApp, jar: CookieJar, client: TestClient) {
  const { verifier, challenge } = pkcePair()
  const url = authorizeUrl({ clientId: client.id, redirectUri: REDIRECT, challenge, scope: 'openid' })
  let res = await browse(testApp, jar, url)
  if (res.statusCode === 200) res = await signInOnPage(testApp, jar, res.body, 'ada@example.com')
  const code = redirectParams(res).get('code')!
  const tokens = await exchangeCode(testApp, { code, redirect_uri: REDIRECT, code_verifier: verifier }, client.basic)
  return tokens.json<{ id_token: string; refresh_token: string }>()
}

async function setup(t: Tap, dialect: 'sqlite' | 'postgres') {
  const testApp = await buildTestApp(t, { dialect })
  await registerUser(testApp, 'ada@example.com')
  const receiver = await startReceiver(t)
  const rp = await registerClient(testApp, {
    name: 'Notes',
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['openid'],
    audiences: [],
    redirectUris: [REDIRECT],
    backchannelLogoutUri: receiver.url,
    firstParty: true,
  })
  const silent = await registerClient(testApp, {
    name: 'No back-channel',
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['openid'],
    audiences: [],
    redirectUris: [REDIRECT],
    firstParty: true,
  })
  return { testApp, receiver, rp, silent }
}

/**
 * Live sessions of ada at this client, written straight into the table: thousands through the
 * authorize endpoint would take minutes, and how they were opened does not matter here.
 */
async function insertLiveSessions(testApp: TestApp, clientId: string, count: number): Promise<void> {
  const { db } = testApp.deps
  const user = await db
    .selectFrom('users')
    .select('id')
    .where('email', '=', 'ada@example.com')
    .executeTakeFirstOrThrow()
  const now = testApp.clock.now()
  const rows = Array.from({ length: count }, () => ({
    id: randomUUID(),
    user_id: user.id,
    client_id: clientId,
    scope: 'openid',
    audience: testApp.config.issuer,
    amr: '["pwd"]',
    auth_time: now,
    created_at: now,
    last_used_at: now,
    expires_at: now + 86_400_000,
    revoked_at: null,
    revoked_reason: null,
    ip: null,
    user_agent: null,
    dpop_jkt: null,
    signin_session_id: null,
  }))
  for (let start = 0; start < rows.length; start += 1000) {
    await db.transaction().execute((trx) =>
      trx
        .insertInto('sessions')
        .values(rows.slice(start, start + 1000))
        .execute(),
    )
  }
}

async function countRows(testApp: TestApp, status: 'pending' | null): Promise<number> {
  let query = testApp.deps.db.selectFrom('backchannel_logouts').select((eb) => eb.fn.countAll<string>().as('n'))
  if (status !== null) query = query.where('status', '=', status)
  return Number((await query.executeTakeFirstOrThrow()).n)
}

async function liveSessions(testApp: TestApp): Promise<number> {
  const row = await testApp.deps.db
    .selectFrom('sessions')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('revoked_at', 'is', null)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

function pendingRows(testApp: TestApp) {
  return testApp.deps.db
    .selectFrom('backchannel_logouts')
    .select(['client_id', 'session_id', 'status', 'attempts'])
    .where('status', '=', 'pending')
    .execute()
}

for (const dialect of testDialects()) {
  t.test(`back-channel logout on ${dialect}`, async (t) => {
    t.test('RP-initiated logout posts a logout token that verifies against the served JWKS', async (t) => {
      const { testApp, receiver, rp, silent } = await setup(t, dialect)
      await testApp.app.listen({ port: 0, host: '127.0.0.1' })
      const origin = `http://127.0.0.1:${(testApp.app.server.address() as AddressInfo).port}`
      const jar = new CookieJar()
      const notes = await openApp(testApp, jar, rp)
      await openApp(testApp, jar, silent)
      const res = await browse(testApp, jar, `/oauth/logout?id_token_hint=${notes.id_token}`)
      t.equal(res.statusCode, 200, 'signed out')
      t.equal((await pendingRows(testApp)).length, 1, 'one token queued: the other app registered no URI')
      t.equal(receiver.received.length, 0, 'nothing is sent in the request itself')

      t.same(await deliverDueBackchannelLogouts(testApp.deps), { delivered: 1, retrying: 0, failed: 0, discarded: 0 })
      t.equal(receiver.received.length, 1)
      const { token, contentType } = receiver.received[0]!
      t.equal(contentType, 'application/x-www-form-urlencoded')
      const jwks = createRemoteJWKSet(new URL(`${origin}/.well-known/jwks.json`))
      const { payload, protectedHeader } = await jwtVerify(token!, jwks, {
        issuer: testApp.config.issuer,
        audience: rp.id,
        typ: 'logout+jwt',
        currentDate: new Date(testApp.clock.now()),
        requiredClaims: ['iat', 'exp', 'jti', 'sub', 'sid', 'events'],
      })
      const idToken = claimsOf(notes.id_token)
      t.equal(protectedHeader.typ, 'logout+jwt')
      t.equal(payload.sub, idToken.sub)
      t.equal(payload.sid, idToken.sid, 'the sid the app saw in its ID token')
      t.same(payload.events, { [EVENT]: {} })
      t.equal(payload.nonce, undefined, 'never a nonce (§2.4)')
      t.ok(payload.exp! - payload.iat! <= 120, 'short-lived')
      t.equal((await pendingRows(testApp)).length, 0)
      t.same(await deliverDueBackchannelLogouts(testApp.deps), { delivered: 0, retrying: 0, failed: 0, discarded: 0 })
    })

    t.test('every way a session ends queues one: logout-all, the user, an operator', async (t) => {
      const { testApp, receiver, rp } = await setup(t, dialect)
      const jar = new CookieJar()
      const first = claimsOf((await openApp(testApp, jar, rp)).id_token)
      const own = await login(testApp, 'ada@example.com')
      const revoked = await testApp.app.inject({
        method: 'DELETE',
        url: `/auth/sessions/${String(first.sid)}`,
        headers: { authorization: `Bearer ${own.accessToken}` },
      })
      t.equal(revoked.statusCode, 204)
      t.same(
        (await pendingRows(testApp)).map((r) => r.session_id),
        [first.sid],
        'DELETE /auth/sessions/:id',
      )

      const second = claimsOf((await openApp(testApp, jar, rp)).id_token)
      await revokeSessionAsAdmin(testApp.deps, { kind: 'cli' }, String(second.sid))
      t.ok(
        (await pendingRows(testApp)).some((r) => r.session_id === second.sid),
        'an operator revoking it',
      )

      const third = claimsOf((await openApp(testApp, jar, rp)).id_token)
      const all = await testApp.app.inject({
        method: 'POST',
        url: '/auth/logout-all',
        headers: { authorization: `Bearer ${own.accessToken}` },
      })
      t.equal(all.statusCode, 204)
      const rows = await pendingRows(testApp)
      t.ok(
        rows.some((r) => r.session_id === third.sid),
        'logout-all',
      )
      t.equal(rows.length, 3, 'one per ended app session; the first-party session has no back-channel URI')
      t.same(await deliverDueBackchannelLogouts(testApp.deps), { delivered: 3, retrying: 0, failed: 0, discarded: 0 })
      t.same(
        receiver.received.map((r) => claimsOf(r.token!).sid).sort(),
        [first.sid, second.sid, third.sid].sort(),
        'each app session was announced',
      )
    })

    // Regression: every ended session id went into one IN (…) and one multi-row INSERT (11 values a
    // row), past SQLite's 32,766 and PostgreSQL's 65,535 bound values, and the whole transaction
    // (sign-out everywhere, disable, reset, erasure) rolled back with a 500.
    t.test(
      'a user with 6,000 sessions at a back-channel app can still sign out everywhere and be disabled',
      async (t) => {
        const { testApp, rp } = await setup(t, dialect)
        const own = await login(testApp, 'ada@example.com')
        await insertLiveSessions(testApp, rp.id, 6000)
        const all = await testApp.app.inject({
          method: 'POST',
          url: '/auth/logout-all',
          headers: { authorization: `Bearer ${own.accessToken}` },
        })
        t.equal(all.statusCode, 204, all.body)
        t.equal(await liveSessions(testApp), 0, 'every session ended')
        t.equal(await countRows(testApp, 'pending'), 6000, 'one logout token queued for each app session')

        await insertLiveSessions(testApp, rp.id, 6000)
        const disabled = await runLatchkey(
          ['users', 'disable', 'ada@example.com', '--json'],
          cliEnv(testApp.dataDir, testApp.database),
        )
        t.equal(disabled.code, 0, disabled.stderr)
        t.equal(await liveSessions(testApp), 0, 'every session ended')
        t.equal(await countRows(testApp, null), 12000)
      },
    )

    // Regression: rows went out in batches of 10 in global order and each batch waited for its
    // slowest request (5 s), so one app whose endpoint never answers held back every other app.
    t.test("an app whose endpoint hangs does not hold back another app's logout token", async (t) => {
      const { testApp, receiver, rp } = await setup(t, dialect)
      const stalled: net.Socket[] = []
      const hole = net.createServer((socket) => void stalled.push(socket)) // accepts, never answers
      await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve))
      const dropStalled = () => stalled.splice(0).forEach((socket) => socket.destroy())
      t.teardown(() => {
        dropStalled()
        return new Promise<void>((resolve) => hole.close(() => resolve()))
      })
      const hanging = await registerClient(testApp, {
        name: 'Hanging',
        grantTypes: ['authorization_code', 'refresh_token'],
        scopes: ['openid'],
        audiences: [],
        redirectUris: [REDIRECT],
        backchannelLogoutUri: `http://127.0.0.1:${(hole.address() as AddressInfo).port}/backchannel`,
        firstParty: true,
      })
      await insertLiveSessions(testApp, hanging.id, 20)
      const first = await login(testApp, 'ada@example.com')
      const auth = (token: string) => ({ authorization: `Bearer ${token}` })
      await testApp.app.inject({ method: 'POST', url: '/auth/logout-all', headers: auth(first.accessToken) })
      testApp.clock.advance(1000)
      const notes = claimsOf((await openApp(testApp, new CookieJar(), rp)).id_token)
      const second = await login(testApp, 'ada@example.com')
      await testApp.app.inject({ method: 'POST', url: '/auth/logout-all', headers: auth(second.accessToken) })
      t.equal(await countRows(testApp, 'pending'), 21, '20 for the hanging app, then one for Notes')

      const stop = new AbortController()
      const started = Date.now()
      const delivering = deliverDueBackchannelLogouts(testApp.deps, stop.signal)
      while (receiver.received.length === 0 && Date.now() - started < 3000) await sleep(20)
      const waited = Date.now() - started
      stop.abort()
      dropStalled()
      await delivering
      t.equal(receiver.received.length, 1, `Notes got its token (after ${waited} ms)`)
      t.ok(waited < 3000, 'well before the hanging request times out (5 s)')
      t.same(
        receiver.received.map((r) => claimsOf(r.token!).sid),
        [notes.sid],
      )
    })

    t.test('a pending token survives a restart and is delivered by the next instance', async (t) => {
      const { testApp, receiver, rp } = await setup(t, dialect)
      const jar = new CookieJar()
      const notes = await openApp(testApp, jar, rp)
      await browse(testApp, jar, `/oauth/logout?id_token_hint=${notes.id_token}`)
      await testApp.close()
      t.equal(receiver.received.length, 0)

      const restarted = await buildTestApp(t, { database: testApp.database, dataDir: testApp.dataDir })
      t.equal((await pendingRows(restarted)).length, 1, 'still in the table')
      t.same(await deliverDueBackchannelLogouts(restarted.deps), { delivered: 1, retrying: 0, failed: 0, discarded: 0 })
      t.equal(receiver.received.length, 1)
      t.equal(claimsOf(receiver.received[0]!.token!).sid, claimsOf(notes.id_token).sid)
    })

    t.test('a receiver answering 500 gets the same token again after the back-off; 400 is final', async (t) => {
      const { testApp, receiver, rp } = await setup(t, dialect)
      const jar = new CookieJar()
      const notes = await openApp(testApp, jar, rp)
      receiver.statuses.push(500)
      await browse(testApp, jar, `/oauth/logout?id_token_hint=${notes.id_token}`)
      t.same(await deliverDueBackchannelLogouts(testApp.deps), { delivered: 0, retrying: 1, failed: 0, discarded: 0 })
      t.same(
        await deliverDueBackchannelLogouts(testApp.deps),
        { delivered: 0, retrying: 0, failed: 0, discarded: 0 },
        'not due yet',
      )
      testApp.clock.advance(30_000)
      t.same(await deliverDueBackchannelLogouts(testApp.deps), { delivered: 1, retrying: 0, failed: 0, discarded: 0 })
      t.equal(receiver.received.length, 2)
      const [first, second] = receiver.received.map((r) => claimsOf(r.token!))
      t.equal(first!.jti, second!.jti, 'the same jti: the client can tell a repeat')

      const again = await openApp(testApp, jar, rp)
      receiver.statuses.push(400)
      await browse(testApp, jar, `/oauth/logout?id_token_hint=${again.id_token}`)
      t.same(await deliverDueBackchannelLogouts(testApp.deps), { delivered: 0, retrying: 0, failed: 1, discarded: 0 })
      testApp.clock.advance(3_600_000)
      t.same(await deliverDueBackchannelLogouts(testApp.deps), { delivered: 0, retrying: 0, failed: 0, discarded: 0 })
    })

    t.test('two instances deliver each token once', async (t) => {
      const { testApp, receiver, rp } = await setup(t, dialect)
      const jar = new CookieJar()
      for (let i = 0; i < 3; i++) {
        const tokens = await openApp(testApp, jar, rp)
        await browse(testApp, jar, `/oauth/logout?id_token_hint=${tokens.id_token}`)
      }
      const second = await buildTestApp(t, {
        database: testApp.database,
        dataDir: testApp.dataDir,
        clock: testApp.clock,
      })
      const reports = await Promise.all([
        deliverDueBackchannelLogouts(testApp.deps),
        deliverDueBackchannelLogouts(second.deps),
      ])
      t.equal(reports[0].delivered + reports[1].delivered, 3)
      t.equal(receiver.received.length, 3)
      t.equal(new Set(receiver.received.map((r) => claimsOf(r.token!).jti)).size, 3)
    })
  })
}
