import t from 'tap'
import Fastify from 'fastify'
import { createVerifier, isVerifierError } from '@latchkey/verifier'
import { requireScope } from '@latchkey/verifier/fastify'
import { grantNotes, NOTES_AUDIENCE, startLatchkey } from '../helpers/resource-service.js'

// Regressions from the security review of the verifier: a stale revocation list, a throwing
// error handler, a scope check without authentication, a cleartext issuer. The database plays no
// part beyond issuing tokens, so SQLite only.

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'accepted',
    (error: unknown) => (isVerifierError(error) ? error.code : 'other'),
  )

t.test(
  'once the revocation list is older than maxRevocationStalenessMs, tokens are refused until a poll succeeds',
  async (t) => {
    const latchkey = await startLatchkey(t, 'sqlite')
    const verifier = createVerifier({
      issuer: latchkey.issuer,
      audience: NOTES_AUDIENCE,
      clock: latchkey.clock.now,
      revocationPollIntervalMs: 3_600_000,
      maxRevocationStalenessMs: 60_000,
      onError: () => {},
    })
    t.teardown(() => verifier.close())
    const { accessToken } = await grantNotes(latchkey, 'ada@example.com')
    t.equal(await codeOf(verifier.verify(accessToken)), 'accepted')
    latchkey.clock.advance(60_001)
    t.equal(
      await codeOf(verifier.verify(accessToken)),
      'revocations_unavailable',
      'a list this old may miss a revocation: fail closed',
    )
    await verifier.refreshRevocations()
    t.equal(await codeOf(verifier.verify(accessToken)), 'accepted', 'a fresh read restores service')
  },
)

t.test('an onError handler that throws never crashes the resource service', async (t) => {
  const latchkey = await startLatchkey(t, 'sqlite')
  const verifier = createVerifier({
    issuer: latchkey.issuer,
    audience: NOTES_AUDIENCE,
    clock: latchkey.clock.now,
    revocationsUri: 'http://127.0.0.1:1/oauth/revocations',
    revocationPollIntervalMs: 3_600_000,
    fetchTimeoutMs: 1000,
    onError: (error) => {
      throw error
    },
  })
  t.teardown(() => verifier.close())
  const unhandled: unknown[] = []
  const record = (reason: unknown) => unhandled.push(reason)
  process.on('unhandledRejection', record)
  t.teardown(() => void process.off('unhandledRejection', record))
  await t.rejects(verifier.refreshRevocations())
  await new Promise((resolve) => setImmediate(resolve))
  t.same(unhandled, [], 'no unhandled rejection from the background chain')
})

t.test('requireScope on a route without latchkeyAuth answers 401, not 500', async (t) => {
  const app = Fastify()
  app.get('/notes', { preHandler: requireScope('notes:read') }, async () => ({ ok: true }))
  t.teardown(() => app.close())
  const res = await app.inject({ url: '/notes' })
  t.equal(res.statusCode, 401)
  t.equal(
    res.headers['www-authenticate'],
    'Bearer',
    'RFC 6750 §3.1: no credentials, so a bare challenge without an error code',
  )
})

t.test('an http issuer is refused unless its host is loopback', async (t) => {
  t.throws(() => createVerifier({ issuer: 'http://id.example.com', audience: NOTES_AUDIENCE }), /must use https/)
  for (const issuer of [
    'http://localhost:3000',
    'http://127.0.0.1:3000',
    'http://[::1]:3000',
    'https://id.example.com',
  ]) {
    const verifier = createVerifier({ issuer, audience: NOTES_AUDIENCE, revocationsUri: false, onError: () => {} })
    verifier.close()
    t.pass(`${issuer} is accepted`)
  }
})
