import t from 'tap'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
import { nextClientIp, PASSWORD } from '../helpers/users.js'

t.test(
  'a login flood fills the hashing queue: 503 with Retry-After at once, while tokens, JWKS and health keep answering',
  async (t) => {
    const testApp = await buildTestApp(t)
    const client = await registerClient(testApp)
    const logins = Array.from({ length: 80 }, (_, i) =>
      testApp.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: `flood${i}@example.com`, password: PASSWORD },
        remoteAddress: nextClientIp(),
      }),
    )
    const others = await Promise.all([
      testApp.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: client.basic },
        payload: 'grant_type=client_credentials',
      }),
      testApp.app.inject('/.well-known/jwks.json'),
      testApp.app.inject('/healthz'),
    ])
    t.same(
      others.map((r) => r.statusCode),
      [200, 200, 200],
      'other endpoints answered during the flood',
    )
    const results = await Promise.all(logins)
    const refused = results.filter((r) => r.statusCode === 503)
    t.ok(refused.length > 0, `${refused.length} of 80 refused while the queue was full`)
    t.ok(
      results.every((r) => r.statusCode === 503 || r.statusCode === 401),
      'every other answer is the normal one',
    )
    t.same(refused[0]!.json(), {
      error: 'temporarily_unavailable',
      error_description: 'too many password checks in progress, retry shortly',
    })
    t.equal(refused[0]!.headers['retry-after'], '1')
    t.same(testApp.deps.passwordHasher.stats(), { running: 0, queued: 0 }, 'the queue drained')
  },
)
