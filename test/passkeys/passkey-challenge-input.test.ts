import t from 'tap'
import { buildTestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { browserHeaders, nextClientIp } from '../helpers/users.js'

const base64url = (text: string) => Buffer.from(text).toString('base64url')

for (const dialect of testDialects()) {
  t.test(`a passkey login whose signed challenge holds a NUL is a 400, not a 500, on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    for (const challenge of ['abc\u0000def', 'abc\u009bdef', 'not base64url!']) {
      const clientDataJSON = base64url(
        JSON.stringify({ type: 'webauthn.get', challenge, origin: testApp.config.issuer }),
      )
      const res = await testApp.app.inject({
        method: 'POST',
        url: '/auth/passkeys/login',
        headers: browserHeaders(),
        remoteAddress: nextClientIp(),
        payload: {
          response: {
            id: 'AAAA',
            rawId: 'AAAA',
            type: 'public-key',
            response: { clientDataJSON, authenticatorData: 'AAAA', signature: 'AAAA' },
            clientExtensionResults: {},
          },
        },
      })
      t.equal(res.statusCode, 400, JSON.stringify(challenge))
      t.same(res.json(), { error: 'invalid_request', error_description: 'the passkey response is malformed' })
    }
  })
}
