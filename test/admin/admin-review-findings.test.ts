import t from 'tap'
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
import { basicOf, clientCredentialsToken, createAdminClient, introspect } from '../helpers/admin.js'
import { testDialects } from '../helpers/test-database.js'
import { enrolTotp } from '../helpers/totp.js'
import { nextClientIp, registerUser } from '../helpers/users.js'
import { CLIENT_CACHE_TTL_MS } from '../../server/clients/client-lookup.js'
import { insertPasskey } from '../../server/passkeys/passkey.store.js'
import { REVOCATION_FEED_REFRESH_MS } from '../../server/tokens/revocation-feed.js'
import { setUserDisabled } from '../../server/users/user.store.js'

// Regressions for the security review of the admin API and its CLI: each t.test names what broke.

const REDIRECT = 'https://rp.example.com/cb'

/** A user signs in to the app through /oauth/authorize: the app's tokens for that user. */
async function openApp(testApp: TestApp, app: TestClient, email: string) {
  const jar = new CookieJar()
  const { verifier, challenge } = pkcePair()
  let res = await browse(
    testApp,
    jar,
    authorizeUrl({ clientId: app.id, redirectUri: REDIRECT, challenge, scope: 'openid email' }),
  )
  if (res.statusCode === 200) res = await signInOnPage(testApp, jar, res.body, email)
  const code = redirectParams(res).get('code')
  if (code === null) throw new Error(`no code: ${res.statusCode} ${res.body}`)
  const tokens = await exchangeCode(testApp, { code, redirect_uri: REDIRECT, code_verifier: verifier }, app.basic)
  if (tokens.statusCode !== 200) throw new Error(`exchange failed: ${tokens.body}`)
  return tokens.json<{ access_token: string; refresh_token: string }>()
}

/** Rows of a user in every table that holds a second factor, a credential or a pending sign-in. */
async function rowsOfUser(testApp: TestApp, userId: string): Promise<Record<string, number>> {
  const db = testApp.deps.db
  const count = async (
    table:
      | 'passkeys'
      | 'totp_factors'
      | 'recovery_codes'
      | 'mfa_challenges'
      | 'webauthn_challenges'
      | 'signin_sessions'
      | 'email_verification_tokens'
      | 'password_reset_tokens'
      | 'device_authorizations'
      | 'authorization_codes'
      | 'consents',
  ) =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('user_id', '=', userId)
          .executeTakeFirstOrThrow()
      ).n,
    )
  const tables = [
    'passkeys',
    'totp_factors',
    'recovery_codes',
    'mfa_challenges',
    'webauthn_challenges',
    'signin_sessions',
    'email_verification_tokens',
    'password_reset_tokens',
    'device_authorizations',
    'authorization_codes',
    'consents',
  ] as const
  const counts: Record<string, number> = {}
  for (const table of tables) counts[table] = await count(table)
  const sessionData = await db
    .selectFrom('sessions')
    .select(['ip', 'user_agent'])
    .where('user_id', '=', userId)
    .where((eb) => eb.or([eb('ip', 'is not', null), eb('user_agent', 'is not', null)]))
    .execute()
  counts.sessions_with_ip_or_user_agent = sessionData.length
  return counts
}

async function addPasskey(testApp: TestApp, userId: string): Promise<void> {
  await insertPasskey(testApp.deps.db, {
    id: `pk-${userId}`,
    userId,
    credentialId: `cred-${userId}`,
    publicKey: new Uint8Array(Buffer.from('not a real key')),
    signCount: 3,
    transports: ['internal', 'hybrid'],
    backupEligible: true,
    backedUp: false,
    name: 'Laptop',
    createdAt: testApp.clock.now(),
    lastUsedAt: testApp.clock.now() + 1_000,
  })
}

async function userIdOf(testApp: TestApp, email: string): Promise<string> {
  const row = await testApp.deps.db
    .selectFrom('users')
    .select('id')
    .where('email', '=', email)
    .executeTakeFirstOrThrow()
  return row.id
}

for (const dialect of testDialects()) {
  t.test(`admin review findings on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const admin = await createAdminClient(testApp)
    const introspector = await registerClient(testApp, {
      introspection: true,
      audiences: ['https://api.example.com', testApp.config.issuer],
    })
    const call = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
      testApp.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${await clientCredentialsToken(testApp, admin.basic)}` },
        remoteAddress: nextClientIp(),
        ...(payload ? { payload } : {}),
      })

    t.test('rotate-secret with revoke_old voids the tokens and sessions the old secret obtained', async (t) => {
      await registerUser(testApp, 'rot@example.com')
      const target = await registerClient(testApp, {
        name: 'Notes',
        grantTypes: ['client_credentials', 'authorization_code', 'refresh_token'],
        scopes: ['openid', 'email', 'notes:read'],
        audiences: ['https://api.example.com'],
        redirectUris: [REDIRECT],
        firstParty: true,
      })
      const own = await clientCredentialsToken(testApp, target.basic)
      const user = await openApp(testApp, target, 'rot@example.com')
      // A second admin whose secret leaks: its bearer token must die with the rotation.
      const leakedAdmin = await createAdminClient(testApp, 'leaked ops')
      const leakedToken = await clientCredentialsToken(testApp, leakedAdmin.basic)
      t.equal((await introspect(testApp, introspector, own)).json().active, true)
      testApp.clock.advance(1_000)

      const rotated = await call('POST', `/admin/clients/${target.id}/secret`, { revoke_old: true })
      t.equal(rotated.statusCode, 200, rotated.body)
      t.equal(rotated.json().previous_secret_expires_at, null)
      t.equal((await call('POST', `/admin/clients/${leakedAdmin.id}/secret`, { revoke_old: true })).statusCode, 200)

      // The instance that rotated refuses the old secret at once, not after its client cache expires.
      const old = await testApp.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { authorization: target.basic, 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'grant_type=client_credentials',
      })
      t.equal(old.statusCode, 401)
      t.same(old.json(), { error: 'invalid_client', error_description: 'client authentication failed' })
      // What the old secret obtained before: the client's own token, the user's token, the refresh.
      t.same((await introspect(testApp, introspector, own)).json(), { active: false })
      t.same((await introspect(testApp, introspector, user.access_token)).json(), { active: false })
      const userinfo = await testApp.app.inject({
        url: '/oauth/userinfo',
        headers: { authorization: `Bearer ${user.access_token}` },
      })
      t.equal(userinfo.statusCode, 401, 'userinfo refuses the user token issued before the rotation')
      const adminCall = await testApp.app.inject({
        url: '/admin/clients',
        headers: { authorization: `Bearer ${leakedToken}` },
      })
      t.equal(adminCall.statusCode, 401, 'the admin API refuses the rotated admin client token')
      t.same(adminCall.json(), {
        error: 'invalid_token',
        error_description: 'the access token is missing, invalid, expired or revoked',
      })
      const fresh = basicOf(target.id, rotated.json().client_secret as string)

      testApp.clock.advance(REVOCATION_FEED_REFRESH_MS)
      const feed = (await testApp.app.inject('/oauth/revocations')).json<{
        users: Array<{ sub: string; issued_before: number }>
        sessions: Array<{ sid: string }>
      }>()
      const entry = feed.users.find((u) => u.sub === target.id)
      t.ok(entry, 'the feed cuts off the client’s own tokens')
      t.ok(
        entry!.issued_before >
          (JSON.parse(Buffer.from(own.split('.')[1]!, 'base64url').toString()) as { iat: number }).iat,
      )
      const sid = (JSON.parse(Buffer.from(user.access_token.split('.')[1]!, 'base64url').toString()) as { sid: string })
        .sid
      t.ok(
        feed.sessions.some((s) => s.sid === sid),
        'the feed lists the ended session',
      )

      // Past the bound for other instances' caches, the new secret's tokens are good.
      testApp.clock.advance(CLIENT_CACHE_TTL_MS + 1_000)
      t.equal(
        (await introspect(testApp, introspector, await clientCredentialsToken(testApp, fresh))).json().active,
        true,
      )
      const refreshed = await testApp.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { authorization: fresh, 'content-type': 'application/x-www-form-urlencoded' },
        payload: `grant_type=refresh_token&refresh_token=${encodeURIComponent(user.refresh_token)}`,
      })
      t.equal(refreshed.statusCode, 400, 'the session the old secret held has ended')
      t.equal(refreshed.json().error, 'invalid_grant')
      const trail = (await call('GET', '/admin/audit?type=client.secret_rotated')).json<{
        items: Array<{ details: Record<string, unknown> }>
      }>()
      t.match(trail.items.find((e) => e.details.target_client_id === target.id)?.details, {
        revoke_old: true,
        sessions_revoked: 1,
      })
    })

    t.test(
      'erasure removes second factors, pending sign-ins and session metadata; an erased user stays disabled',
      async (t) => {
        await registerUser(testApp, 'erase@example.com')
        const userId = await userIdOf(testApp, 'erase@example.com')
        await enrolTotp(testApp, 'erase@example.com')
        await addPasskey(testApp, userId)
        // A pending second step (mfa_challenges) and a pending passkey challenge.
        await testApp.app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email: 'erase@example.com', password: 'correct horse battery staple 42' },
          remoteAddress: nextClientIp(),
        })
        const before = await rowsOfUser(testApp, userId)
        t.ok(before.passkeys === 1 && before.totp_factors === 1 && before.recovery_codes === 10)
        t.ok((before.mfa_challenges ?? 0) >= 1 && (before.sessions_with_ip_or_user_agent ?? 0) >= 1)

        const erased = await call('DELETE', `/admin/users/${userId}`)
        t.equal(erased.statusCode, 200, erased.body)
        t.same(await rowsOfUser(testApp, userId), {
          passkeys: 0,
          totp_factors: 0,
          recovery_codes: 0,
          mfa_challenges: 0,
          webauthn_challenges: 0,
          signin_sessions: 0,
          email_verification_tokens: 0,
          password_reset_tokens: 0,
          device_authorizations: 0,
          authorization_codes: 0,
          consents: 0,
          sessions_with_ip_or_user_agent: 0,
        })
        const outbox = await testApp.deps.db
          .selectFrom('outbox')
          .select('id')
          .where('user_id', '=', userId)
          .where('status', '=', 'pending')
          .execute()
        t.same(outbox, [], 'no mail is still to be sent to the erased address')

        const enable = await call('PATCH', `/admin/users/${userId}`, { disabled: false })
        t.equal(enable.statusCode, 404)
        t.same(enable.json(), { error: 'not_found', error_description: `no user with id ${userId}` })
        // The store itself refuses: a caller that read the user before the erasure cannot enable it.
        t.equal(await setUserDisabled(testApp.deps.db, userId, testApp.clock.now(), false), false)
        const row = await testApp.deps.db
          .selectFrom('users')
          .select('disabled')
          .where('id', '=', userId)
          .executeTakeFirstOrThrow()
        t.equal(Number(row.disabled), 1)
      },
    )

    t.test('the audit event of a client update records the scopes and grants it set', async (t) => {
      const target = await registerClient(testApp)
      const patched = await call('PATCH', `/admin/clients/${target.id}`, {
        scope: 'notes:read latchkey:admin',
        grant_types: ['client_credentials'],
        redirect_uris: [],
        audiences: [testApp.config.issuer],
      })
      t.equal(patched.statusCode, 200, patched.body)
      const trail = (await call('GET', '/admin/audit?type=client.updated')).json<{
        items: Array<{ client_id: string; details: Record<string, unknown> }>
      }>()
      const event = trail.items.find((e) => e.details.target_client_id === target.id)
      t.same(event && { client_id: event.client_id, details: event.details }, {
        client_id: admin.id,
        details: {
          target_client_id: target.id,
          changed: 'audiences,grant_types,redirect_uris,scope',
          scope: 'notes:read latchkey:admin',
          previous_scope: 'notes:read notes:write',
          grant_types: 'client_credentials',
          redirect_uris: '',
          audiences: testApp.config.issuer,
          actor: 'admin_api',
        },
      })
    })

    t.test('the export lists passkeys and MFA metadata and every audit event, past 10,000', async (t) => {
      await registerUser(testApp, 'export@example.com')
      const userId = await userIdOf(testApp, 'export@example.com')
      await enrolTotp(testApp, 'export@example.com')
      await addPasskey(testApp, userId)
      const enrolledAt = await testApp.deps.db
        .selectFrom('totp_factors')
        .select('confirmed_at')
        .where('user_id', '=', userId)
        .executeTakeFirstOrThrow()
      // 10,060 audit rows about the user, written as fixtures in batches.
      const existing = Number(
        (
          await testApp.deps.db
            .selectFrom('audit_events')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('user_id', '=', userId)
            .executeTakeFirstOrThrow()
        ).n,
      )
      const base = testApp.clock.now() - 3_600_000
      for (let batch = 0; batch < 20; batch++) {
        await testApp.deps.db
          .insertInto('audit_events')
          .values(
            Array.from({ length: 503 }, (_, i) => ({
              id: `fixture-${batch}-${i}`,
              event: 'login.succeeded',
              user_id: userId,
              client_id: null,
              session_id: null,
              ip: null,
              details: null,
              created_at: base + batch * 1_000 + i,
            })),
          )
          .execute()
      }
      const exported = await call('GET', `/admin/users/${userId}/export`)
      t.equal(exported.statusCode, 200)
      const body = exported.json<{
        passkeys: unknown[]
        mfa: unknown
        audit_events: Array<{ id: string }>
      }>()
      t.same(body.passkeys, [
        {
          id: `pk-${userId}`,
          name: 'Laptop',
          credential_id: `cred-${userId}`,
          transports: ['internal', 'hybrid'],
          backup_eligible: true,
          backed_up: false,
          created_at: new Date(testApp.clock.now()).toISOString(),
          last_used_at: new Date(testApp.clock.now() + 1_000).toISOString(),
        },
      ])
      t.same(body.mfa, {
        totp_enrolled_at: new Date(Number(enrolledAt.confirmed_at)).toISOString(),
        recovery_codes_remaining: 10,
      })
      t.equal(body.audit_events.length, existing + 10_060, 'every audit event')
      t.equal(new Set(body.audit_events.map((e) => e.id)).size, body.audit_events.length, 'none twice')
      t.notMatch(exported.body, /public_key|secret_sealed|code_hash|bm90IGEgcmVhbCBrZXk/, 'no key, secret or hash')
    })
  })
}

t.test('/metrics behind LATCHKEY_TRUST_PROXY without a token is refused even from loopback', async (t) => {
  const testApp = await buildTestApp(t, { env: { LATCHKEY_TRUST_PROXY: '1' } })
  // A proxy on the same host that adds no X-Forwarded-For: the socket is loopback, no header says forwarded.
  const res = await testApp.app.inject({ url: '/metrics', remoteAddress: '127.0.0.1' })
  t.equal(res.statusCode, 403)
  t.same(res.json(), {
    error: 'access_denied',
    error_description:
      'behind LATCHKEY_TRUST_PROXY a loopback connection may be the proxy: set LATCHKEY_METRICS_TOKEN to serve metrics',
  })
  const spoofed = await testApp.app.inject({
    url: '/metrics',
    remoteAddress: '10.0.0.5',
    headers: { 'x-forwarded-for': '127.0.0.1' },
  })
  t.equal(spoofed.statusCode, 403, 'a forwarded loopback address is not a loopback client')
})

t.test('/metrics without LATCHKEY_TRUST_PROXY: only a loopback socket with no proxy headers', async (t) => {
  const testApp = await buildTestApp(t)
  t.equal((await testApp.app.inject({ url: '/metrics', remoteAddress: '127.0.0.1' })).statusCode, 200)
  for (const headers of [{ 'x-real-ip': '203.0.113.9' }, { via: '1.1 proxy' }, { 'x-forwarded-host': 'a.example' }]) {
    const res = await testApp.app.inject({ url: '/metrics', remoteAddress: '127.0.0.1', headers })
    t.equal(res.statusCode, 403, JSON.stringify(headers))
  }
})
