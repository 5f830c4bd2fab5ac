import t from 'tap'
import { buildTestApp, registerClient, type TestApp } from '../helpers/build-test-app.js'
import { cliEnv, runLatchkey } from '../helpers/run-cli.js'
import { provisionDatabase, testDialects, testDirOf } from '../helpers/test-database.js'
import { enrolTotp } from '../helpers/totp.js'
import { registerUser } from '../helpers/users.js'
import { insertPasskey } from '../../server/passkeys/passkey.store.js'

// The CLI side of the admin security review (test/admin/admin-review-findings.test.ts has the
// HTTP side): the commands share the admin functions, so these check the wiring.

async function countOf(testApp: TestApp, table: 'passkeys' | 'totp_factors' | 'recovery_codes', userId: string) {
  const row = await testApp.deps.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

for (const dialect of testDialects()) {
  t.test(`the CLI's rotate-secret --revoke-old, users show, export and delete on ${dialect}`, async (t) => {
    const dataDir = testDirOf(t)
    const database = await provisionDatabase(t, dialect, dataDir)
    const env = cliEnv(dataDir, database)
    const testApp = await buildTestApp(t, { dialect, dataDir, database })
    // The CLI stamps with the system clock; the app follows it.
    testApp.clock.set(Date.now())
    const introspector = await registerClient(testApp, { introspection: true })
    const target = await registerClient(testApp)
    const token = await testApp.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { authorization: target.basic, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'grant_type=client_credentials',
    })
    t.equal(token.statusCode, 200)
    const introspect = () =>
      testApp.app.inject({
        method: 'POST',
        url: '/oauth/introspect',
        headers: { authorization: introspector.basic, 'content-type': 'application/x-www-form-urlencoded' },
        payload: `token=${token.json<{ access_token: string }>().access_token}`,
      })
    t.equal((await introspect()).json<{ active: boolean }>().active, true)
    testApp.clock.advance(1_000)

    const rotated = await runLatchkey(['clients', 'rotate-secret', target.id, '--revoke-old', '--json'], env)
    t.equal(rotated.code, 0, rotated.stderr)
    testApp.clock.set(Math.max(Date.now(), testApp.clock.now()))
    t.same((await introspect()).json(), { active: false }, 'the token the old secret obtained is void')

    await registerUser(testApp, 'cli-erase@example.com')
    const { id: userId } = await testApp.deps.db
      .selectFrom('users')
      .select('id')
      .where('email', '=', 'cli-erase@example.com')
      .executeTakeFirstOrThrow()
    await enrolTotp(testApp, 'cli-erase@example.com')
    await insertPasskey(testApp.deps.db, {
      id: `pk-${userId}`,
      userId,
      credentialId: `cred-${userId}`,
      publicKey: new Uint8Array(Buffer.from('not a real key')),
      signCount: 0,
      transports: ['internal'],
      backupEligible: false,
      backedUp: false,
      name: 'Laptop',
      createdAt: testApp.clock.now(),
      lastUsedAt: null,
    })
    const shown = await runLatchkey(['users', 'show', 'cli-erase@example.com', '--json'], env)
    t.equal(shown.code, 0, shown.stderr)
    t.match(JSON.parse(shown.stdout), { id: userId, email: 'cli-erase@example.com', disabled: false })
    const exported = await runLatchkey(['users', 'export', 'cli-erase@example.com'], env)
    t.equal(exported.code, 0, exported.stderr)
    const everything = JSON.parse(exported.stdout) as {
      user: { id: string }
      passkeys: { credential_id: string; name: string }[]
      mfa: { totp_enrolled_at: string | null; recovery_codes_remaining: number }
      audit_events: { type: string }[]
    }
    t.equal(everything.user.id, userId)
    t.same(
      everything.passkeys.map((p) => [p.credential_id, p.name]),
      [[`cred-${userId}`, 'Laptop']],
    )
    t.equal(everything.mfa.recovery_codes_remaining, 10)
    t.type(everything.mfa.totp_enrolled_at, 'string')
    t.notMatch(exported.stdout, /public_key|secret|password|hash/i, 'no key, secret or hash is exported')
    const unknown = await runLatchkey(['users', 'export', 'nobody@example.com'], env)
    t.not(unknown.code, 0, 'an unknown user is an error')

    const deleted = await runLatchkey(['users', 'delete', 'cli-erase@example.com', '--json'], env)
    t.equal(deleted.code, 0, deleted.stderr)
    t.same(
      [
        await countOf(testApp, 'passkeys', userId),
        await countOf(testApp, 'totp_factors', userId),
        await countOf(testApp, 'recovery_codes', userId),
      ],
      [0, 0, 0],
      'no passkey, TOTP factor or recovery code is left',
    )
  })
}
