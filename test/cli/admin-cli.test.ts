import t from 'tap'
import { cliEnv, runLatchkey as latchkey } from '../helpers/run-cli.js'
import { buildTestApp } from '../helpers/build-test-app.js'
import { provisionDatabase, testDialects, testDirOf } from '../helpers/test-database.js'
import { PASSWORD, claimsOf, login, registerUser } from '../helpers/users.js'

// The operator's admin commands through the real CLI, and the admin session of docs/operations.md:
// create an admin client, get a token, rotate a secret through the API.
for (const dialect of testDialects()) {
  t.test(`latchkey admin commands on ${dialect}`, async (t) => {
    const dataDir = testDirOf(t)
    const database = await provisionDatabase(t, dialect, dataDir)
    const env = cliEnv(dataDir, database)
    const testApp = await buildTestApp(t, { dialect, dataDir, database })
    // The CLI stamps with the system clock; the app follows it.
    testApp.clock.set(Date.now())
    const json = async (args: string[]) => {
      const res = await latchkey([...args, '--json'], env)
      if (res.code !== 0) throw new Error(`latchkey ${args.join(' ')}: ${res.stderr}`)
      return JSON.parse(res.stdout) as Record<string, unknown> & Array<Record<string, unknown>>
    }

    const admin = await json([
      'clients',
      'create',
      '--name',
      'ops',
      '--grant',
      'client_credentials',
      '--scope',
      'latchkey:admin',
    ])
    t.same(admin.audiences, [testApp.config.issuer], 'an admin client is for Latchkey itself')
    const basic = `Basic ${Buffer.from(`${String(admin.client_id)}:${String(admin.client_secret)}`).toString('base64')}`
    const tokenRes = await testApp.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'grant_type=client_credentials',
    })
    t.equal(tokenRes.statusCode, 200, tokenRes.body)
    const reports = await json(['clients', 'create', '--name', 'reports', '--scope', 'reports:read'])
    const rotated = await testApp.app.inject({
      method: 'POST',
      url: `/admin/clients/${String(reports.client_id)}/secret`,
      headers: { authorization: `Bearer ${tokenRes.json().access_token}` },
      payload: {},
    })
    t.equal(rotated.statusCode, 200, rotated.body)
    t.type(rotated.json().previous_secret_expires_at, 'string')

    const shown = await json(['clients', 'show', String(reports.client_id)])
    t.match(shown, { name: 'reports', scope: 'reports:read' })
    t.notOk('client_secret' in shown)
    const updated = await json([
      'clients',
      'update',
      String(reports.client_id),
      '--scope',
      'reports:read reports:write',
    ])
    t.equal(updated.scope, 'reports:read reports:write')
    t.equal(updated.require_dpop, false)
    const strict = await json(['clients', 'create', '--name', 'strict', '--require-dpop'])
    t.equal(strict.require_dpop, true, 'clients create --require-dpop')
    const relaxed = await json(['clients', 'update', String(strict.client_id), '--no-require-dpop'])
    t.equal(relaxed.require_dpop, false, 'clients update --no-require-dpop')
    const cliRotated = await json(['clients', 'rotate-secret', String(reports.client_id), '--revoke-old'])
    t.equal(cliRotated.previous_secret_expires_at, null)
    t.type(cliRotated.client_secret, 'string')

    const refused = await latchkey(['clients', 'update', String(reports.client_id), '--audience', 'nope'], env)
    t.equal(refused.code, 1)
    t.equal(refused.stderr, 'latchkey: audience "nope" is not an absolute URI\n')
    const missing = await latchkey(['clients', 'show', 'no-such-client'], env)
    t.equal(missing.stderr, 'latchkey: no client with id no-such-client\n')

    await registerUser(testApp, 'ada@example.com')
    await registerUser(testApp, 'bob@example.com')
    const session = await login(testApp, 'ada@example.com')
    const listed = await json(['users', 'list', '--email', 'ad'])
    t.same(
      listed.map((u) => u.email),
      ['ada@example.com'],
    )
    const sessions = await json(['sessions', 'list', '--user', 'ada@example.com'])
    t.same(
      sessions.map((s) => s.id),
      [claimsOf(session.accessToken).sid],
    )
    t.same(await json(['sessions', 'revoke', String(sessions[0]!.id)]), { revoked: sessions[0]!.id })

    await json(['users', 'disable', 'ada@example.com'])
    t.same(
      (await json(['users', 'list', '--disabled'])).map((u) => u.email),
      ['ada@example.com'],
    )
    await json(['users', 'enable', 'ada@example.com'])
    // The CLI stamped the disable's cut-off with the system clock: a sign-in is checked against it
    // (issue 11, H1), so the app's clock moves on to now, as a real one would have.
    testApp.clock.set(Date.now())
    t.ok(await login(testApp, 'ada@example.com', PASSWORD), 'enabled again: she signs in')
    const erased = await json(['users', 'delete', 'ada@example.com'])
    t.equal(erased.sessions_revoked, 1)
    const trail = await json(['audit', 'list', '--since', '1h'])
    const types = trail.map((e) => e.type)
    for (const type of ['client.created', 'client.secret_rotated', 'user.disabled', 'user.enabled', 'user.deleted'])
      t.ok(types.includes(type), `audited: ${type}`)
    const viaApi = trail.find((e) => e.type === 'client.secret_rotated' && e.client_id === admin.client_id)
    t.match(viaApi, { details: { actor: 'admin_api' } }, 'the API rotation names the acting client')
    const rotations = await json(['audit', 'list', '--type', 'client.secret_rotated'])
    t.equal(rotations.length, 2)
    const firstPage = await latchkey(['audit', 'list', '--limit', '2', '--json'], env)
    const cursor = /^more: add --cursor (\S+)\n$/.exec(firstPage.stderr)?.[1]
    t.ok(cursor, `a page short of the trail names the next cursor: ${firstPage.stderr}`)
    const secondPage = await json(['audit', 'list', '--limit', '2', '--cursor', String(cursor)])
    t.same(
      [...(JSON.parse(firstPage.stdout) as { id: string }[]), ...secondPage].map((e) => e.id),
      trail.slice(0, 4).map((e) => e.id),
      'the pages follow each other, newest first, without gaps or repeats',
    )
    const badType = await latchkey(['audit', 'list', '--type', 'nope'], env)
    t.equal(badType.code, 1)
    t.match(badType.stderr, /^latchkey: type is not an audit event name/)
  })
}
