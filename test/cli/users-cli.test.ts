import t from 'tap'
import { cliEnv, runLatchkey as latchkey } from '../helpers/run-cli.js'
import { buildTestApp } from '../helpers/build-test-app.js'
import { provisionDatabase, testDialects, testDirOf } from '../helpers/test-database.js'
import { PASSWORD, login, nextClientIp } from '../helpers/users.js'

for (const dialect of testDialects()) {
  t.test(`latchkey users on ${dialect}`, async (t) => {
    const dataDir = testDirOf(t)
    const database = await provisionDatabase(t, dialect, dataDir)
    const env = cliEnv(dataDir, database)

    const created = await latchkey(
      ['users', 'create', '--email', 'Ada@Example.com', '--password-stdin', '--name', 'Ada', '--json'],
      env,
      `${PASSWORD}\n`,
    )
    t.equal(created.code, 0, created.stderr)
    t.match(JSON.parse(created.stdout), { email: 'ada@example.com', name: 'Ada', email_verified: false })

    const weak = await latchkey(
      ['users', 'create', '--email', 'b@example.com', '--password-stdin'],
      env,
      'password1234\n',
    )
    t.equal(weak.code, 1)
    t.equal(weak.stderr, 'latchkey: this password appears in lists of common or breached passwords; choose another\n')
    const again = await latchkey(
      ['users', 'create', '--email', 'ada@example.com', '--password-stdin'],
      env,
      `${PASSWORD}\n`,
    )
    t.equal(again.stderr, 'latchkey: a user with email ada@example.com already exists\n')

    const testApp = await buildTestApp(t, { dialect, dataDir, database })
    const session = await login(testApp, 'ada@example.com')
    const disabled = await latchkey(['users', 'disable', 'ADA@example.com', '--json'], env)
    t.equal(disabled.code, 0, disabled.stderr)
    t.match(JSON.parse(disabled.stdout), { email: 'ada@example.com', disabled: true, sessions_revoked: 1 })
    t.equal(
      (await testApp.app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${session.accessToken}` } }))
        .statusCode,
      401,
      'its access token died at once',
    )
    const res = await testApp.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: 'ada@example.com', password: PASSWORD },
      remoteAddress: nextClientIp(),
    })
    t.equal(res.statusCode, 401, 'and it cannot sign in')
    const unknown = await latchkey(['users', 'disable', 'nobody@example.com'], env)
    t.equal(unknown.stderr, 'latchkey: no user with email nobody@example.com\n')
  })
}
