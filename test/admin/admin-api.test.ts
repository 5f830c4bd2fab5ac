import t from 'tap'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
import { basicOf, clientCredentialsToken, createAdminClient } from '../helpers/admin.js'
import { testDialects } from '../helpers/test-database.js'
import { PASSWORD, login, nextClientIp, registerUser } from '../helpers/users.js'
import { CLIENT_CACHE_TTL_MS } from '../../server/clients/client-lookup.js'
import { REVOCATION_FEED_REFRESH_MS } from '../../server/tokens/revocation-feed.js'

for (const dialect of testDialects()) {
  t.test(`admin API on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const admin = await createAdminClient(testApp)
    let token = await clientCredentialsToken(testApp, admin.basic)
    // Subtests move the clock by days: each starts with a fresh admin token.
    t.beforeEach(async () => {
      token = await clientCredentialsToken(testApp, admin.basic)
    })
    const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object, bearer?: string) =>
      testApp.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${bearer ?? token}` },
        remoteAddress: nextClientIp(),
        ...(payload ? { payload } : {}),
      })

    t.test('a cursor whose id holds a control character is invalid_request, not a 500', async (t) => {
      for (const id of ['a\u0000b', 'a\u009bb', 'a b']) {
        const cursor = Buffer.from(JSON.stringify([testApp.clock.now(), id])).toString('base64url')
        for (const path of ['/admin/users', '/admin/clients', '/admin/audit']) {
          const res = await call('GET', `${path}?cursor=${cursor}`)
          t.equal(res.statusCode, 400, `${path} with ${JSON.stringify(id)}`)
          t.same(res.json(), {
            error: 'invalid_request',
            error_description: 'cursor is not one this server handed out',
          })
        }
      }
    })

    t.test('refuses tokens without the admin scope, and no token at all', async (t) => {
      const normal = await registerClient(testApp, { audiences: [testApp.config.issuer] })
      const res = await call('GET', '/admin/clients', undefined, await clientCredentialsToken(testApp, normal.basic))
      t.equal(res.statusCode, 403)
      t.same(res.json(), {
        error: 'insufficient_scope',
        error_description: 'this request needs an access token with the scope latchkey:admin',
      })
      t.match(res.headers['www-authenticate'], /error="insufficient_scope"/)
      const none = await testApp.app.inject({ url: '/admin/users' })
      t.equal(none.statusCode, 401)
      t.equal(none.json().error, 'invalid_token')
      await registerUser(testApp, 'scope@example.com')
      const user = await login(testApp, 'scope@example.com')
      t.equal((await call('GET', '/admin/users', undefined, user.accessToken)).statusCode, 403, 'a user token')
    })

    t.test('registration outside the CLI and the admin API cannot grant latchkey:admin', async (t) => {
      await t.rejects(registerClient(testApp, { scopes: ['latchkey:admin'] }), /only the CLI or an admin/)
    })

    t.test('creates, shows, lists with pagination, updates and audits clients', async (t) => {
      const created = await call('POST', '/admin/clients', {
        name: 'reports',
        grant_types: ['client_credentials'],
        scope: 'reports:read',
        audiences: ['https://api.example.com'],
      })
      t.equal(created.statusCode, 201, created.body)
      const body = created.json()
      t.match(body, { name: 'reports', type: 'confidential', scope: 'reports:read', client_secret: String })
      t.notOk('secret_hash' in body)
      const shown = await call('GET', `/admin/clients/${body.client_id}`)
      t.same(Object.keys(shown.json()).includes('client_secret'), false, 'the secret is shown only once')

      for (const name of ['a', 'b', 'c']) {
        t.equal(
          (await call('POST', '/admin/clients', { name, grant_types: ['client_credentials'], scope: '' })).statusCode,
          201,
        )
      }
      const ids: string[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const res = await call('GET', `/admin/clients?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
        t.equal(res.statusCode, 200)
        const page = res.json() as { items: Array<{ client_id: string }>; next_cursor: string | null }
        t.ok(page.items.length <= 2)
        ids.push(...page.items.map((c) => c.client_id))
        cursor = page.next_cursor
        pages++
      } while (cursor !== null)
      t.equal(ids.length, new Set(ids).size, 'no client twice')
      t.ok(ids.includes(body.client_id) && ids.includes(admin.id), 'every client once')
      t.equal(pages, Math.ceil(ids.length / 2), 'pages of two, and no empty page at the end')
      t.equal((await call('GET', '/admin/clients?cursor=nonsense')).json().error, 'invalid_request')

      const patched = await call('PATCH', `/admin/clients/${body.client_id}`, {
        scope: 'reports:read reports:write',
        audiences: ['https://reports.example.com'],
      })
      t.equal(patched.statusCode, 200, patched.body)
      t.match(patched.json(), { scope: 'reports:read reports:write', audiences: ['https://reports.example.com'] })
      const bad = await call('PATCH', `/admin/clients/${body.client_id}`, { audiences: ['not a uri'] })
      t.equal(bad.statusCode, 400)
      t.equal(bad.json().error, 'invalid_client_metadata')
      t.equal((await call('GET', '/admin/clients/nope')).statusCode, 404)

      const audit = await call('GET', `/admin/audit?type=client.updated`)
      t.match(audit.json().items[0], {
        type: 'client.updated',
        client_id: admin.id,
        details: { actor: 'admin_api', target_client_id: body.client_id },
      })
    })

    t.test('rotating a secret keeps the old one for the overlap; revoke_old ends it', async (t) => {
      const target = await registerClient(testApp)
      const rotated = await call('POST', `/admin/clients/${target.id}/secret`, {})
      t.equal(rotated.statusCode, 200, rotated.body)
      const fresh = rotated.json().client_secret as string
      t.not(fresh, target.secret)
      testApp.clock.advance(CLIENT_CACHE_TTL_MS + 1)
      t.ok(await clientCredentialsToken(testApp, basicOf(target.id, fresh)), 'the new secret works')
      t.ok(await clientCredentialsToken(testApp, target.basic), 'the old one too, during the overlap')
      testApp.clock.advance(testApp.config.clientSecretOverlapMs)
      await t.rejects(clientCredentialsToken(testApp, target.basic), /401/, 'not after the overlap')

      // A day later the admin's token has expired: it gets a new one.
      const again = await call(
        'POST',
        `/admin/clients/${target.id}/secret`,
        { revoke_old: true },
        await clientCredentialsToken(testApp, admin.basic),
      )
      t.equal(again.json().previous_secret_expires_at, null)
      // Past the cut-off window (rounded up to a whole second): before it, the token endpoint answers 503.
      testApp.clock.advance(CLIENT_CACHE_TTL_MS + 1_000)
      await t.rejects(
        clientCredentialsToken(testApp, basicOf(target.id, fresh)),
        /401/,
        'revoke_old: the old secret is dead',
      )
      t.ok(await clientCredentialsToken(testApp, basicOf(target.id, again.json().client_secret as string)))
    })

    t.test('deleting a client cuts off its live tokens', async (t) => {
      const doomed = await registerClient(testApp)
      const live = await clientCredentialsToken(testApp, doomed.basic)
      const introspector = await registerClient(testApp, { introspection: true })
      const introspect = () =>
        testApp.app.inject({
          method: 'POST',
          url: '/oauth/introspect',
          headers: { authorization: introspector.basic, 'content-type': 'application/x-www-form-urlencoded' },
          payload: `token=${live}`,
        })
      t.equal((await introspect()).json().active, true)
      const deleted = await call('DELETE', `/admin/clients/${doomed.id}`)
      t.same(deleted.json(), { deleted: doomed.id, sessions_revoked: 0 })
      t.same((await introspect()).json(), { active: false })
      testApp.clock.advance(REVOCATION_FEED_REFRESH_MS)
      const feed = (await testApp.app.inject('/oauth/revocations')).json() as { users: Array<{ sub: string }> }
      t.ok(
        feed.users.some((u) => u.sub === doomed.id),
        'the feed cuts off its tokens',
      )
      t.equal((await call('DELETE', `/admin/clients/${doomed.id}`)).statusCode, 404)
    })

    t.test('users: search, disable, enable, export, erase', async (t) => {
      await registerUser(testApp, 'ada@example.com', PASSWORD, 'Ada')
      testApp.clock.advance(1)
      await registerUser(testApp, 'adam@example.com')
      await registerUser(testApp, 'bob@example.com')
      const session = await login(testApp, 'ada@example.com')
      const found = await call('GET', '/admin/users?email=AD')
      t.same(
        found.json().items.map((u: { email: string }) => u.email),
        ['ada@example.com', 'adam@example.com'],
      )
      const wildcard = await call('GET', '/admin/users?email=%25')
      t.same(wildcard.json().items, [], 'LIKE wildcards are literal')
      const ada = found.json().items[0] as { id: string }

      const disabled = await call('PATCH', `/admin/users/${ada.id}`, { disabled: true })
      t.match(disabled.json(), { id: ada.id, disabled: true, sessions_revoked: 1 })
      t.equal(
        (await testApp.app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${session.accessToken}` } }))
          .statusCode,
        401,
      )
      t.same(
        (await call('GET', '/admin/users?disabled=true')).json().items.map((u: { id: string }) => u.id),
        [ada.id],
      )
      t.equal((await call('PATCH', `/admin/users/${ada.id}`, { disabled: false })).json().disabled, false)
      const again = await login(testApp, 'ada@example.com')

      const sessions = await call('GET', `/admin/sessions?user_id=${ada.id}`)
      const live = sessions.json().items.filter((s: { revoked_at: string | null }) => s.revoked_at === null)
      t.equal(live.length, 1)
      const exported = await call('GET', `/admin/users/${ada.id}/export`)
      t.equal(exported.statusCode, 200)
      const dump = exported.body
      t.match(exported.json(), { user: { id: ada.id, email: 'ada@example.com', name: 'Ada' } })
      t.equal(exported.json().sessions.length, 2)
      t.ok(exported.json().audit_events.some((e: { type: string }) => e.type === 'user.disabled'))
      t.notMatch(dump, /argon2|password_hash|token_hash/, 'no hash leaves')
      t.notMatch(dump, again.refreshToken)

      const erased = await call('DELETE', `/admin/users/${ada.id}`)
      t.same(erased.json(), { deleted: ada.id, sessions_revoked: 1 })
      const shown = (await call('GET', `/admin/users/${ada.id}`)).json()
      t.match(shown, { id: ada.id, email: null, name: null, disabled: true, erased_at: String })
      const row = await testApp.deps.db
        .selectFrom('users')
        .selectAll()
        .where('id', '=', ada.id)
        .executeTakeFirstOrThrow()
      t.equal(row.password_hash, '')
      t.notMatch(row.email, /ada/)
      const failed = await testApp.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: 'ada@example.com', password: PASSWORD },
        remoteAddress: nextClientIp(),
      })
      t.equal(failed.statusCode, 401)
      const trail = await call('GET', `/admin/audit?user_id=${ada.id}&since=1h`)
      t.ok(
        trail.json().items.some((e: { type: string }) => e.type === 'user.deleted'),
        'audit rows keep the id',
      )
      t.notMatch(trail.body, /ada@example\.com/)
      t.equal((await call('DELETE', `/admin/users/${ada.id}`)).statusCode, 404)
    })

    t.test('sessions: revoke one; keys: list and rotate; audit paging and bad input', async (t) => {
      await registerUser(testApp, 'eve@example.com')
      const s = await login(testApp, 'eve@example.com')
      const sid = JSON.parse(Buffer.from(s.accessToken.split('.')[1]!, 'base64url').toString()).sid as string
      t.same((await call('DELETE', `/admin/sessions/${sid}`)).json(), { revoked: sid })
      t.equal((await call('DELETE', `/admin/sessions/${sid}`)).statusCode, 404)

      const before = (await call('GET', '/admin/keys')).json().items as Array<{ kid: string; state: string }>
      const rotated = await call('POST', '/admin/keys/rotate', {})
      t.equal(rotated.statusCode, 200, rotated.body)
      const after = (await call('GET', '/admin/keys')).json().items as Array<{ kid: string; state: string }>
      t.equal(after.find((k) => k.state === 'active')?.kid, rotated.json().activated)
      t.not(before.find((k) => k.state === 'active')?.kid, rotated.json().activated)

      const first = (await call('GET', '/admin/audit?limit=2')).json()
      t.equal(first.items.length, 2)
      const second = (await call('GET', `/admin/audit?limit=2&cursor=${first.next_cursor}`)).json()
      t.notSame(second.items[0].id, first.items[0].id)
      t.ok(second.items[0].created_at <= first.items[1].created_at, 'newest first across pages')
      const bad = await call('GET', '/admin/audit?type=nope')
      t.same(bad.json(), { error: 'invalid_request', error_description: 'type is not one of the accepted values' })
      t.equal((await call('GET', '/admin/audit?since=yesterday')).statusCode, 400)
      t.equal((await call('GET', '/admin/users?limit=0')).statusCode, 400)
    })
  })
}
