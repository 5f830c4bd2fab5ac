import t from 'tap'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { nextClientIp, registerUser } from '../helpers/users.js'

// Finding L4: after a change of LATCHKEY_ARGON2_*, the dummy verify for unknown emails used the
// new parameters while existing accounts verify with the ones their hashes were made with. The
// accounts here are made by an instance with costly parameters; an instance configured with cheap
// ones then answers an unknown email about as slowly as a known one, not ten times faster.

const COSTLY = { LATCHKEY_ARGON2_MEMORY_KIB: '65536', LATCHKEY_ARGON2_TIME_COST: '4' }
const CHEAP = { LATCHKEY_ARGON2_MEMORY_KIB: '8192', LATCHKEY_ARGON2_TIME_COST: '1' }

async function timedLogin(testApp: TestApp, email: string): Promise<number> {
  const started = performance.now()
  const res = await testApp.app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password: 'not the password at all' },
    remoteAddress: nextClientIp(),
  })
  if (res.statusCode !== 401) throw new Error(`login: ${res.statusCode} ${res.body}`)
  return performance.now() - started
}

for (const dialect of testDialects()) {
  t.test(`regression L4: the dummy verify costs what stored hashes cost, on ${dialect}`, async (t) => {
    const before = await buildTestApp(t, { dialect, env: COSTLY })
    await registerUser(before, 'ada@example.com')
    await registerUser(before, 'grace@example.com')
    const after = await buildTestApp(t, { env: CHEAP, database: before.database, dataDir: before.dataDir })
    await timedLogin(after, 'nobody@example.com') // the first takes the sample and makes the dummy hash
    const known = await timedLogin(after, 'ada@example.com')
    const unknown = await timedLogin(after, 'nobody-else@example.com')
    t.ok(
      unknown > known / 2,
      `an unknown email (${Math.round(unknown)} ms) takes about as long as a known one (${Math.round(known)} ms)`,
    )
  })
}
