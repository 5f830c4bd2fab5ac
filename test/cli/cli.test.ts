import t from 'tap'
import { cliEnv, runLatchkey as latchkey } from '../helpers/run-cli.js'
import { buildTestApp } from '../helpers/build-test-app.js'
import { provisionDatabase, testDialects, testDirOf } from '../helpers/test-database.js'

for (const dialect of testDialects()) {
  t.test(`latchkey CLI on ${dialect}`, async (t) => {
    const dataDir = testDirOf(t)
    const database = await provisionDatabase(t, dialect, dataDir)
    const env = cliEnv(dataDir, database)

    t.test('clients create prints the client and its secret once; the client gets tokens', async (t) => {
      const created = await latchkey(
        [
          'clients',
          'create',
          '--name',
          'billing',
          '--grant',
          'client_credentials',
          '--scope',
          'invoices:read invoices:write',
          '--audience',
          'https://billing.example.com',
          '--json',
        ],
        env,
      )
      t.equal(created.code, 0, created.stderr)
      const client = JSON.parse(created.stdout)
      t.match(client, {
        name: 'billing',
        type: 'confidential',
        grant_types: ['client_credentials'],
        scope: 'invoices:read invoices:write',
        audiences: ['https://billing.example.com'],
        redirect_uris: [],
      })
      t.match(client.client_secret, /^[A-Za-z0-9_-]{43}$/, '256 random bits')

      const listed = await latchkey(['clients', 'list', '--json'], env)
      const entry = JSON.parse(listed.stdout).find((c: { client_id: string }) => c.client_id === client.client_id)
      t.ok(entry)
      t.notOk('client_secret' in entry, 'list never shows the secret')
      t.notOk(listed.stdout.includes(client.client_secret))
      t.notOk(JSON.stringify(entry).includes('hash'))

      const testApp = await buildTestApp(t, { dialect, dataDir, database })
      const res = await testApp.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: client.client_id,
          client_secret: client.client_secret,
        }).toString(),
      })
      t.equal(res.statusCode, 200)
      t.equal(res.json().scope, 'invoices:read invoices:write')
      await testApp.close()

      const deleted = await latchkey(['clients', 'delete', client.client_id, '--json'], env)
      t.same(JSON.parse(deleted.stdout), { deleted: client.client_id, sessions_revoked: 0 })
      const again = await latchkey(['clients', 'delete', client.client_id], env)
      t.equal(again.code, 1)
      t.equal(again.stderr, `latchkey: no client with id ${client.client_id}\n`)
    })

    t.test('a public client gets no secret', async (t) => {
      const created = await latchkey(
        [
          'clients',
          'create',
          '--name',
          'spa',
          '--public',
          '--redirect-uri',
          'https://app.example.com/callback',
          '--json',
        ],
        env,
      )
      t.equal(created.code, 0, created.stderr)
      const client = JSON.parse(created.stdout)
      t.equal(client.type, 'public')
      t.notOk('client_secret' in client)
      t.same(client.grant_types, ['authorization_code', 'refresh_token'])
    })

    t.test('human output shows the secret once with a warning', async (t) => {
      const created = await latchkey(['clients', 'create', '--name', 'ops'], env)
      t.equal(created.code, 0)
      t.match(created.stdout, /client_secret: [A-Za-z0-9_-]{43}\nStore it now/)
    })

    const mistakes: [string, string[], string][] = [
      ['an unknown command', ['frobnicate'], 'latchkey: unknown command "frobnicate" (latchkey --help lists them)\n'],
      ['a missing name', ['clients', 'create'], 'latchkey: clients create needs --name NAME\n'],
      [
        'an unknown grant',
        ['clients', 'create', '--name', 'x', '--grant', 'password'],
        'latchkey: unknown grant type "password" (one of client_credentials, refresh_token, authorization_code, urn:ietf:params:oauth:grant-type:device_code, urn:ietf:params:oauth:grant-type:token-exchange)\n',
      ],
      [
        'a public client with client_credentials',
        ['clients', 'create', '--name', 'x', '--public', '--grant', 'client_credentials'],
        'latchkey: a public client cannot use client_credentials\n',
      ],
      [
        'an http redirect URI',
        ['clients', 'create', '--name', 'x', '--public', '--redirect-uri', 'http://app.example.com/cb'],
        'latchkey: redirect URI "http://app.example.com/cb" must use https unless its host is loopback\n',
      ],
      [
        'a bad audience',
        ['clients', 'create', '--name', 'x', '--audience', 'billing'],
        'latchkey: audience "billing" is not an absolute URI\n',
      ],
    ]
    for (const [name, args, message] of mistakes) {
      t.test(`${name} exits 1 with one line`, async (t) => {
        const result = await latchkey(args, env)
        t.equal(result.code, 1)
        t.equal(result.stderr, message)
        t.equal(result.stdout, '')
      })
    }

    t.test('an unknown flag exits 1 with one line', async (t) => {
      const result = await latchkey(['clients', 'list', '--verbose'], env)
      t.equal(result.code, 1)
      t.match(result.stderr, /^latchkey: Unknown option '--verbose'[^\n]*\n$/)
    })

    t.test('a bad setting stops every command with one line naming it', async (t) => {
      const result = await latchkey(['keys', 'list'], { ...env, LATCHKEY_SIGNING_ALG: 'HS256' })
      t.equal(result.code, 1)
      t.equal(
        result.stderr,
        'latchkey: invalid configuration: LATCHKEY_SIGNING_ALG must be one of ES256, RS256, PS256, EdDSA (got "HS256")\n',
      )
    })

    t.test('keys list, rotate and rotate --revoke-current', async (t) => {
      const testApp = await buildTestApp(t, { dialect, dataDir, database })
      const listed = JSON.parse((await latchkey(['keys', 'list', '--json'], env)).stdout)
      t.same(listed.map((k: { state: string }) => k.state).sort(), ['active', 'next'])
      t.match(listed[0], { kid: String, alg: 'ES256', created_at: /^\d{4}-\d\d-\d\dT/, removed_at: '' })
      const [active, next] = ['active', 'next'].map((s) => listed.find((k: { state: string }) => k.state === s).kid)

      const rotated = await latchkey(['keys', 'rotate', '--json'], env)
      t.equal(rotated.code, 0, rotated.stderr)
      // The next key was made seconds ago, so the command warns that caches may not hold it yet.
      t.same(JSON.parse(rotated.stdout), { activated: next, retired: active, revoked: false, publishedBriefly: true })
      await testApp.deps.keystore.tick()
      t.equal(testApp.deps.keystore.activeKid(), next, 'a running server picks it up on its next tick')
      const kids = ((await testApp.app.inject('/.well-known/jwks.json')).json().keys as { kid: string }[]).map(
        (k) => k.kid,
      )
      t.ok(kids.includes(active), 'a normally retired key stays published for its tokens')

      const revoked = await latchkey(['keys', 'rotate', '--revoke-current'], env)
      t.equal(revoked.code, 0, revoked.stderr)
      t.match(revoked.stdout, `revoked ${next}: it left the JWKS and its tokens no longer verify`)
      t.match(revoked.stdout, 'note: the new key was published only recently')
      await testApp.deps.keystore.tick()
      const after = ((await testApp.app.inject('/.well-known/jwks.json')).json().keys as { kid: string }[]).map(
        (k) => k.kid,
      )
      t.notOk(after.includes(next), 'the revoked key left the JWKS at once')
      t.equal(after.length, 3, 'the earlier retired key, the new active key and a new next key')
      const table = await latchkey(['keys', 'list'], env)
      t.match(table.stdout, /^KID\s+ALG\s+STATE\s+CREATED_AT/)
    })

    t.test('migrate is idempotent', async (t) => {
      const result = await latchkey(['migrate', '--json'], env)
      t.equal(result.code, 0)
      t.same(JSON.parse(result.stdout), { applied: [] })
    })
  })
}
