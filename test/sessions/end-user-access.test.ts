import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { buildTestApp, registerClient, type TestApp, type TestClient } from '../helpers/build-test-app.js'
import {
  CookieJar,
  answerConsent,
  authorizeUrl,
  browse,
  exchangeCode,
  pkcePair,
  redirectParams,
  signInOnPage,
} from '../helpers/authorize.js'
import { cliEnv, runLatchkey } from '../helpers/run-cli.js'
import { createSmtpServer, linkIn, type TestSmtpServer } from '../helpers/smtp-server.js'
import { testDialects, type Dialect } from '../helpers/test-database.js'
import {
  PASSWORD,
  browserHeaders,
  claimsOf,
  login,
  nextClientIp,
  registerUser,
  type LoggedIn,
} from '../helpers/users.js'
import { deliverDueMessages } from '../../server/mail/deliver-outbox.js'
import { REVOCATION_FEED_REFRESH_MS } from '../../server/tokens/revocation-feed.js'
import { totpCode } from '../helpers/totp.js'

// What each event that ends a user's access must mean for that user, written from the user's side
// (ASVS 7.4.1/7.4.3/7.4.5, RFC 9700 §4.14.2), not copied from the policy table in
// server/sessions/end-user-access.ts. Every reason is triggered through its real entry point, on
// a world set up the same way through our own endpoints, and every row is probed over HTTP.

type Tap = Test
type Reason =
  | 'password_changed'
  | 'password_reset'
  | 'logout_all'
  | 'user_disabled'
  | 'user_deleted'
  | 'consent_withdrawn'
  | 'mfa_reset'
type SessionName = 'current' | 'other' | 'app'
/** What the browser's hosted sign-in at Latchkey's pages gets from a new authorization request. */
type HostedSignin = 'code' | 'consent' | 'password'

interface Outcome {
  currentRefresh: boolean
  currentAccessToken: boolean
  otherRefresh: boolean
  otherAccessToken: boolean
  hostedSignin: HostedSignin
  /** A code the hosted sign-in minted before the event, not yet exchanged. */
  pendingCode: boolean
  appRefresh: boolean
  appAccessToken: boolean
  resetLink: boolean
  verificationLink: boolean
  /** Sessions whose sid the revocation feed lists. */
  feedSids: SessionName[]
  /** A cut-off for the user in the revocation feed. */
  feedCutOff: boolean
  passwordChangedNotice: boolean
}

const expected: Record<Reason, Outcome> = {
  // The session that changed the password stays; everything else made with the old password ends,
  // and so does the reset link mailed before (it would undo the change).
  password_changed: {
    currentRefresh: true,
    currentAccessToken: true,
    otherRefresh: false,
    otherAccessToken: false,
    hostedSignin: 'password',
    pendingCode: false,
    appRefresh: false,
    appAccessToken: false,
    resetLink: false,
    verificationLink: true,
    feedSids: ['app', 'other'],
    feedCutOff: false,
    passwordChangedNotice: true,
  },
  // Someone else may hold the old password: nothing made before the reset survives, the link is spent.
  password_reset: {
    currentRefresh: false,
    currentAccessToken: false,
    otherRefresh: false,
    otherAccessToken: false,
    hostedSignin: 'password',
    pendingCode: false,
    appRefresh: false,
    appAccessToken: false,
    resetLink: false,
    verificationLink: true,
    feedSids: ['app', 'current', 'other'],
    feedCutOff: true,
    passwordChangedNotice: true,
  },
  // "Sign out everywhere": every session and sign-in ends, the password did not change, so the
  // links mailed to the owner stay theirs to use and no "password changed" notice is sent.
  logout_all: {
    currentRefresh: false,
    currentAccessToken: false,
    otherRefresh: false,
    otherAccessToken: false,
    hostedSignin: 'password',
    pendingCode: false,
    appRefresh: false,
    appAccessToken: false,
    resetLink: true,
    verificationLink: true,
    feedSids: ['app', 'current', 'other'],
    feedCutOff: true,
    passwordChangedNotice: false,
  },
  // A disabled account can do nothing at all, not even through a link mailed earlier.
  user_disabled: {
    currentRefresh: false,
    currentAccessToken: false,
    otherRefresh: false,
    otherAccessToken: false,
    hostedSignin: 'password',
    pendingCode: false,
    appRefresh: false,
    appAccessToken: false,
    resetLink: false,
    verificationLink: false,
    feedSids: ['app', 'current', 'other'],
    feedCutOff: true,
    passwordChangedNotice: false,
  },
  // An operator removed the second factor: whoever signed in may have come through it, so every
  // session and sign-in ends; the password is unchanged and the mailed links stay the owner's.
  mfa_reset: {
    currentRefresh: false,
    currentAccessToken: false,
    otherRefresh: false,
    otherAccessToken: false,
    hostedSignin: 'password',
    pendingCode: false,
    appRefresh: false,
    appAccessToken: false,
    resetLink: true,
    verificationLink: true,
    feedSids: ['app', 'current', 'other'],
    feedCutOff: true,
    passwordChangedNotice: false,
  },
  // Erasure: as disabled, for good; the row stays only as a pseudonymous id.
  user_deleted: {
    currentRefresh: false,
    currentAccessToken: false,
    otherRefresh: false,
    otherAccessToken: false,
    hostedSignin: 'password',
    pendingCode: false,
    appRefresh: false,
    appAccessToken: false,
    resetLink: false,
    verificationLink: false,
    feedSids: ['app', 'current', 'other'],
    feedCutOff: true,
    passwordChangedNotice: false,
  },
  // Only that app loses access; the user stays signed in everywhere, and the app must ask again.
  consent_withdrawn: {
    currentRefresh: true,
    currentAccessToken: true,
    otherRefresh: true,
    otherAccessToken: true,
    hostedSignin: 'consent',
    pendingCode: false,
    appRefresh: false,
    appAccessToken: false,
    resetLink: true,
    verificationLink: true,
    feedSids: ['app'],
    feedCutOff: false,
    passwordChangedNotice: false,
  },
}

const REDIRECT = 'https://app.example.com/callback'
const NEW_PASSWORD = 'a fresh passphrase for spring 2027'
const NOTICE_SUBJECT = 'Your Latchkey password was changed'

interface World {
  testApp: TestApp
  email: string
  sub: string
  current: LoggedIn
  other: LoggedIn
  /** The browser holding the hosted sign-in cookie. */
  jar: CookieJar
  app: TestClient
  appTokens: { access: string; refresh: string }
  pendingCode: { code: string; verifier: string }
  resetToken: string
  verificationToken: string
}

function authorizeRequest(app: TestClient, challenge: string): string {
  return authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge, scope: 'openid email' })
}

function exchange(testApp: TestApp, app: TestClient, code: { code: string; verifier: string }) {
  return exchangeCode(testApp, {
    code: code.code,
    code_verifier: code.verifier,
    redirect_uri: REDIRECT,
    client_id: app.id,
  })
}

/** Delivers the outbox and returns what reached `email` in this delivery. */
async function deliverTo(testApp: TestApp, smtp: TestSmtpServer, email: string) {
  const before = smtp.messages.length
  await deliverDueMessages(testApp.deps)
  return smtp.messages.slice(before).filter((m) => m.to.includes(email))
}

/**
 * One user with two first-party sessions, a hosted sign-in, an app's session from the
 * authorization-code flow with consent, a code not yet exchanged, a pending reset link and a
 * pending verification link.
 */
async function setUpWorld(t: Tap, dialect: Dialect, smtp: TestSmtpServer, reason: Reason): Promise<World> {
  const testApp = await buildTestApp(t, { dialect, env: { SMTP_URL: smtp.url } })
  const email = `${reason}.${dialect}@example.com`
  await registerUser(testApp, email)
  const current = await login(testApp, email)
  const other = await login(testApp, email)

  const app = await registerClient(testApp, {
    name: 'Notes',
    type: 'public',
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['openid', 'email'],
    audiences: ['https://api.example.com'],
    redirectUris: [REDIRECT],
  })
  const jar = new CookieJar()
  const first = pkcePair()
  const page = await browse(testApp, jar, authorizeRequest(app, first.challenge))
  const consent = await signInOnPage(testApp, jar, page.body, email)
  const back = await answerConsent(testApp, jar, consent.body, 'allow')
  if (back.statusCode !== 303) throw new Error(`consent failed: ${back.statusCode} ${back.body}`)
  const tokens = await exchange(testApp, app, { code: redirectParams(back).get('code')!, verifier: first.verifier })
  if (tokens.statusCode !== 200) throw new Error(`code exchange failed: ${tokens.statusCode} ${tokens.body}`)
  const second = pkcePair()
  const again = await browse(testApp, jar, authorizeRequest(app, second.challenge))
  if (again.statusCode !== 302) throw new Error(`no code from the hosted sign-in: ${again.statusCode}`)

  const reset = await testApp.app.inject({
    method: 'POST',
    url: '/auth/password-reset',
    payload: { email },
    remoteAddress: nextClientIp(),
  })
  if (reset.statusCode !== 202) throw new Error(`reset request failed: ${reset.statusCode}`)
  const mails = await deliverTo(testApp, smtp, email)
  const mailed = (subject: string, path: string) => {
    const mail = mails.find((m) => m.subject.startsWith(subject))
    if (!mail) throw new Error(`no "${subject}" mail for ${email}`)
    return linkIn(mail, path).searchParams.get('token')!
  }
  return {
    testApp,
    email,
    sub: claimsOf(current.accessToken).sub as string,
    current,
    other,
    jar,
    app,
    appTokens: { access: tokens.json().access_token, refresh: tokens.json().refresh_token },
    pendingCode: { code: redirectParams(again).get('code')!, verifier: second.verifier },
    resetToken: mailed('Reset your', '/reset-password'),
    verificationToken: mailed('Verify', '/verify-email'),
  }
}

/** Each reason through its real entry point, as the user (or the operator) would. */
const triggers: Record<Reason, (world: World) => Promise<void>> = {
  async password_changed({ testApp, current }) {
    const res = await testApp.app.inject({
      method: 'POST',
      url: '/auth/password-change',
      headers: { authorization: `Bearer ${current.accessToken}` },
      payload: { current_password: PASSWORD, new_password: NEW_PASSWORD },
      remoteAddress: nextClientIp(),
    })
    assertStatus(res, 204)
  },
  async password_reset({ testApp, resetToken }) {
    const res = await testApp.app.inject({
      method: 'POST',
      url: '/auth/password-reset/confirm',
      payload: { token: resetToken, password: NEW_PASSWORD },
      remoteAddress: nextClientIp(),
    })
    assertStatus(res, 204)
  },
  async logout_all({ testApp, current }) {
    const res = await testApp.app.inject({
      method: 'POST',
      url: '/auth/logout-all',
      headers: { authorization: `Bearer ${current.accessToken}` },
      remoteAddress: nextClientIp(),
    })
    assertStatus(res, 204)
  },
  async user_disabled({ testApp, email }) {
    const res = await runLatchkey(['users', 'disable', email, '--json'], cliEnv(testApp.dataDir, testApp.database))
    if (res.code !== 0) throw new Error(`latchkey users disable failed: ${res.stderr}`)
  },
  async mfa_reset({ testApp, email, current }) {
    // The user enrols TOTP with the session they have (no new one), then the operator resets it.
    const auth = { authorization: `Bearer ${current.accessToken}` }
    const setup = await testApp.app.inject({ method: 'POST', url: '/auth/mfa/totp/setup', headers: auth })
    assertStatus(setup, 200)
    const code = totpCode(setup.json<{ secret: string }>().secret, testApp.clock.now())
    assertStatus(
      await testApp.app.inject({ method: 'POST', url: '/auth/mfa/totp/confirm', headers: auth, payload: { code } }),
      200,
    )
    const res = await runLatchkey(['users', 'reset-mfa', email, '--json'], cliEnv(testApp.dataDir, testApp.database))
    if (res.code !== 0) throw new Error(`latchkey users reset-mfa failed: ${res.stderr}`)
  },
  async user_deleted({ testApp, email }) {
    const res = await runLatchkey(['users', 'delete', email, '--json'], cliEnv(testApp.dataDir, testApp.database))
    if (res.code !== 0) throw new Error(`latchkey users delete failed: ${res.stderr}`)
  },
  async consent_withdrawn({ testApp, current, app }) {
    const res = await testApp.app.inject({
      method: 'DELETE',
      url: `/auth/consents/${app.id}`,
      headers: { authorization: `Bearer ${current.accessToken}` },
      remoteAddress: nextClientIp(),
    })
    assertStatus(res, 204)
  },
}

function assertStatus(res: LightMyRequestResponse, status: number): void {
  if (res.statusCode !== status) throw new Error(`expected ${status}, got ${res.statusCode} ${res.body}`)
}

/**
 * Whether a probe was answered with success; a refusal must be a 400 or 401 carrying the one
 * error body shape, never a 500.
 */
function works(t: Tap, res: LightMyRequestResponse, okStatus: number, what: string): boolean {
  if (res.statusCode === okStatus) return true
  t.ok([400, 401].includes(res.statusCode), `${what}: refused with 400 or 401, got ${res.statusCode}`)
  t.same(Object.keys(res.json()).sort(), ['error', 'error_description'], `${what}: an error body`)
  return false
}

/** Probes every row, in an order where no probe changes what a later one sees. */
async function observe(t: Tap, world: World, smtp: TestSmtpServer): Promise<Outcome> {
  const { testApp, jar, app } = world
  const inject = testApp.app.inject.bind(testApp.app)
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
  const me = (token: string, what: string) =>
    inject({ url: '/auth/me', headers: bearer(token) }).then((r) => works(t, r, 200, what))
  const refresh = (session: LoggedIn, what: string) =>
    inject({
      method: 'POST',
      url: '/auth/refresh',
      headers: browserHeaders(session.cookie),
      remoteAddress: nextClientIp(),
    }).then((r) => works(t, r, 200, what))

  const currentAccessToken = await me(world.current.accessToken, 'current access token')
  const otherAccessToken = await me(world.other.accessToken, 'other access token')
  const appAccessToken = works(
    t,
    await inject({ url: '/oauth/userinfo', headers: bearer(world.appTokens.access) }),
    200,
    'app access token',
  )

  const feed = (await inject('/oauth/revocations')).json() as {
    sessions: Array<{ sid: string }>
    users: Array<{ sub: string }>
  }
  const sids: Record<SessionName, string> = {
    current: claimsOf(world.current.accessToken).sid as string,
    other: claimsOf(world.other.accessToken).sid as string,
    app: claimsOf(world.appTokens.access).sid as string,
  }
  const listed = new Set(feed.sessions.map((s) => s.sid))
  const feedSids = (Object.keys(sids) as SessionName[]).filter((name) => listed.has(sids[name])).sort()
  const feedCutOff = feed.users.some((u) => u.sub === world.sub)

  const currentRefresh = await refresh(world.current, 'current refresh')
  const otherRefresh = await refresh(world.other, 'other refresh')
  const appRefresh = works(
    t,
    await inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: world.appTokens.refresh,
        client_id: app.id,
      }).toString(),
    }),
    200,
    'app refresh',
  )

  const page = await browse(testApp, jar, authorizeRequest(app, pkcePair().challenge))
  const hostedSignin: HostedSignin =
    page.statusCode === 302 && redirectParams(page).has('code')
      ? 'code'
      : page.body.includes('action="/consent"')
        ? 'consent'
        : 'password'
  if (hostedSignin === 'password') t.match(page.body, /name="password"/, 'the sign-in page asks for the password')
  const pendingCode = works(t, await exchange(testApp, app, world.pendingCode), 200, 'pending code')

  const passwordChangedNotice = (await deliverTo(testApp, smtp, world.email)).some((m) => m.subject === NOTICE_SUBJECT)
  const verificationLink = works(
    t,
    await inject({
      method: 'POST',
      url: '/auth/email/verify',
      payload: { token: world.verificationToken },
      remoteAddress: nextClientIp(),
    }),
    204,
    'verification link',
  )
  // Last: a working reset link, once used, ends the user's access itself.
  const resetLink = works(
    t,
    await inject({
      method: 'POST',
      url: '/auth/password-reset/confirm',
      payload: { token: world.resetToken, password: 'the third passphrase of 2027' },
      remoteAddress: nextClientIp(),
    }),
    204,
    'reset link',
  )

  return {
    currentRefresh,
    currentAccessToken,
    otherRefresh,
    otherAccessToken,
    hostedSignin,
    pendingCode,
    appRefresh,
    appAccessToken,
    resetLink,
    verificationLink,
    feedSids,
    feedCutOff,
    passwordChangedNotice,
  }
}

for (const dialect of testDialects()) {
  t.test(`ending a user's access on ${dialect}`, async (t) => {
    const smtp = await createSmtpServer(t)
    for (const reason of Object.keys(expected) as Reason[]) {
      t.test(reason, async (t) => {
        const world = await setUpWorld(t, dialect, smtp, reason)
        const before = await observeBefore(t, world)
        t.ok(before, 'before the event, every part of the world works')
        // The event comes later than what it ends (the CLI's system clock is later anyway).
        world.testApp.clock.advance(1000)
        await triggers[reason](world)
        // Past the feed's in-memory snapshot; and the CLI stamps its writes with the system clock,
        // so the app's clock catches up with it (what the CLI queued is due, what it ended is past).
        const { clock } = world.testApp
        clock.set(Math.max(clock.now() + REVOCATION_FEED_REFRESH_MS, Date.now()))
        const actual = await observe(t, world, smtp)
        for (const row of Object.keys(expected[reason]) as Array<keyof Outcome>) {
          t.same(actual[row], expected[reason][row], `${reason}: ${row}`)
        }
      })
    }
  })
}

/**
 * The world works before the event (probes that change nothing): otherwise a "no longer works"
 * row would prove nothing.
 */
async function observeBefore(t: Tap, world: World): Promise<boolean> {
  const { testApp } = world
  const statuses = await Promise.all([
    testApp.app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${world.current.accessToken}` } }),
    testApp.app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${world.other.accessToken}` } }),
    testApp.app.inject({ url: '/oauth/userinfo', headers: { authorization: `Bearer ${world.appTokens.access}` } }),
  ])
  const feed = (await testApp.app.inject('/oauth/revocations')).json() as { sessions: unknown[]; users: unknown[] }
  t.same(feed.sessions, [], 'nothing revoked yet')
  t.same(feed.users, [], 'no cut-off yet')
  return statuses.every((r) => r.statusCode === 200)
}
