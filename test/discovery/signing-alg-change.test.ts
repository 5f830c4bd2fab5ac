import t from 'tap'
import { decodeProtectedHeader } from 'jose'
import { buildTestApp, registerClient, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'

const DAY = 24 * 60 * 60 * 1000

async function advertised(testApp: TestApp) {
  const metadata = (await testApp.app.inject('/.well-known/openid-configuration')).json()
  return {
    access: metadata.access_token_signing_alg_values_supported as string[],
    id: metadata.id_token_signing_alg_values_supported as string[],
  }
}

async function signingAlg(testApp: TestApp): Promise<string> {
  const client = await registerClient(testApp)
  const token = await testApp.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: client.basic },
    payload: 'grant_type=client_credentials',
  })
  return decodeProtectedHeader(token.json().access_token as string).alg!
}

for (const dialect of testDialects()) {
  t.test(`metadata during a signing-algorithm change on ${dialect}`, async (t) => {
    const dataDir = t.testdir()
    const first = await buildTestApp(t, { dialect, dataDir })
    t.same(await advertised(first), { access: ['ES256'], id: ['ES256'] })
    const database = first.database
    await first.close()

    // Restarted on the same data with another algorithm: the ES256 key still signs for a while.
    const second = await buildTestApp(t, {
      dialect,
      dataDir,
      database,
      env: { LATCHKEY_SIGNING_ALG: 'EdDSA' },
      clock: first.clock,
    })
    second.clock.advance(second.config.jwksMaxAgeMs)
    await second.deps.keystore.tick()
    t.equal(await signingAlg(second), 'ES256', 'the old key still signs')
    t.same(
      await advertised(second),
      { access: ['ES256', 'EdDSA'], id: ['ES256', 'EdDSA'] },
      'regression: only EdDSA was listed while ES256 still signed',
    )

    second.clock.advance(30 * DAY)
    await second.deps.keystore.tick()
    t.equal(await signingAlg(second), 'EdDSA', 'the new key has taken over')
    t.same(await advertised(second), { access: ['EdDSA', 'ES256'], id: ['EdDSA', 'ES256'] }, 'old tokens still verify')

    second.clock.advance(30 * DAY)
    await second.deps.keystore.tick()
    t.same(await advertised(second), { access: ['EdDSA'], id: ['EdDSA'] }, 'the old algorithm goes with its key')
  })
}
