import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { createVerifier, isVerifierError } from '@latchkey/verifier'
import { grantNotes, NOTES_AUDIENCE, startLatchkey } from '../helpers/resource-service.js'
import { testDialects, type Tap } from '../helpers/test-database.js'

/** A pass-through proxy in front of Latchkey that records each request, to count what the verifier fetches. */
async function startCountingProxy(
  t: Tap,
  target: string,
): Promise<{ url: string; requests: Array<{ path: string; status: number }> }> {
  const requests: Array<{ path: string; status: number }> = []
  const server = http.createServer((req, res) => {
    const headers: Record<string, string> = {}
    if (typeof req.headers['if-none-match'] === 'string') headers['if-none-match'] = req.headers['if-none-match']
    fetch(`${target}${req.url}`, { headers }).then(
      async (upstream) => {
        requests.push({ path: req.url ?? '', status: upstream.status })
        const out: Record<string, string> = {}
        for (const name of ['content-type', 'cache-control', 'etag']) {
          const value = upstream.headers.get(name)
          if (value !== null) out[name] = value
        }
        res.writeHead(upstream.status, out).end(Buffer.from(await upstream.arrayBuffer()))
      },
      () => res.writeHead(502).end(),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests }
}

/** Waits for background network work (not for time: the clock is the test's). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
}

function withKid(token: string, kid: string): string {
  const [header, payload, signature] = token.split('.')
  const parsed = JSON.parse(Buffer.from(header!, 'base64url').toString()) as Record<string, unknown>
  return `${Buffer.from(JSON.stringify({ ...parsed, kid })).toString('base64url')}.${payload}.${signature}`
}

for (const dialect of testDialects()) {
  t.test(`verifier key cache against Latchkey on ${dialect}`, async (t) => {
    t.test('discovery finds the JWKS and the cache lives as long as its Cache-Control max-age', async (t) => {
      const latchkey = await startLatchkey(t, dialect)
      const proxy = await startCountingProxy(t, latchkey.issuer)
      const verifier = createVerifier({
        issuer: latchkey.issuer,
        audience: NOTES_AUDIENCE,
        clock: latchkey.clock.now,
        jwksUri: `${proxy.url}/.well-known/jwks.json`,
        revocationsUri: false,
      })
      t.teardown(() => verifier.close())
      const { accessToken } = await grantNotes(latchkey, 'ada@example.com')
      const maxAge = latchkey.config.jwksMaxAgeMs
      t.equal((await verifier.verify(accessToken)).sub !== undefined, true)
      t.same(proxy.requests, [{ path: '/.well-known/jwks.json', status: 200 }])
      latchkey.clock.advance(maxAge - 1000)
      await verifier.verify(accessToken)
      t.equal(proxy.requests.length, 1, 'no refetch while the key set is fresh')
      latchkey.clock.advance(2000)
      await verifier.verify(accessToken)
      await until(() => proxy.requests.length === 2)
      t.same(
        proxy.requests[1],
        { path: '/.well-known/jwks.json', status: 304 },
        'a stale set is revalidated in the background with its ETag',
      )
    })

    t.test('a flood of unknown kids costs Latchkey one refetch per cooldown, and fails closed', async (t) => {
      const latchkey = await startLatchkey(t, dialect)
      const proxy = await startCountingProxy(t, latchkey.issuer)
      const verifier = createVerifier({
        issuer: latchkey.issuer,
        audience: NOTES_AUDIENCE,
        clock: latchkey.clock.now,
        jwksUri: `${proxy.url}/.well-known/jwks.json`,
        revocationsUri: false,
        keyRefetchCooldownMs: 30_000,
      })
      t.teardown(() => verifier.close())
      const { accessToken } = await grantNotes(latchkey, 'ada@example.com')
      await verifier.verify(accessToken)
      latchkey.clock.advance(30_000)
      const codes = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          verifier.verify(withKid(accessToken, `random-${i}`)).then(
            () => 'accepted',
            (error: unknown) => (isVerifierError(error) ? error.code : 'other'),
          ),
        ),
      )
      t.same(new Set(codes), new Set(['key_unknown']))
      t.equal(proxy.requests.length, 2, 'the first fetch plus one refetch for fifty unknown kids')
      latchkey.clock.advance(10_000)
      await t.rejects(verifier.verify(withKid(accessToken, 'random-again')), { code: 'key_unknown' })
      t.equal(proxy.requests.length, 2, 'still within the cooldown')
      latchkey.clock.advance(20_000)
      await t.rejects(verifier.verify(withKid(accessToken, 'random-later')), { code: 'key_unknown' })
      t.equal(proxy.requests.length, 3, 'one more after the cooldown')
      t.ok(await verifier.verify(accessToken), 'the real key still verifies')
    })

    t.test('discovery refuses metadata naming another issuer, and nothing verifies', async (t) => {
      const latchkey = await startLatchkey(t, dialect)
      const proxy = await startCountingProxy(t, latchkey.issuer)
      // The proxy serves Latchkey's metadata, whose issuer is not the proxy's URL.
      const verifier = createVerifier({
        issuer: proxy.url,
        audience: NOTES_AUDIENCE,
        clock: latchkey.clock.now,
        revocationsUri: false,
      })
      t.teardown(() => verifier.close())
      const { accessToken } = await grantNotes(latchkey, 'ada@example.com')
      await t.rejects(verifier.verify(accessToken), { code: 'keys_unavailable' })
      t.same(
        proxy.requests.map((r) => r.path),
        ['/.well-known/oauth-authorization-server'],
      )
    })

    t.test('the poll timer picks up a revocation by itself', async (t) => {
      const latchkey = await startLatchkey(t, dialect)
      const verifier = createVerifier({
        issuer: latchkey.issuer,
        audience: NOTES_AUDIENCE,
        clock: latchkey.clock.now,
        revocationPollIntervalMs: 100,
      })
      t.teardown(() => verifier.close())
      const ada = await grantNotes(latchkey, 'ada@example.com')
      await verifier.verify(ada.accessToken)
      const res = await fetch(`${latchkey.issuer}/auth/logout`, {
        method: 'POST',
        headers: {
          origin: latchkey.issuer,
          'x-requested-with': 'latchkey',
          cookie: `__Host-latchkey_session=${ada.refreshToken}`,
        },
      })
      t.equal(res.status, 204)
      latchkey.clock.advance(1000) // Latchkey's snapshot may be re-read
      let code = 'accepted'
      for (let i = 0; i < 100 && code === 'accepted'; i++) {
        code = await verifier.verify(ada.accessToken).then(
          () => 'accepted',
          (error: unknown) => (isVerifierError(error) ? error.code : 'other'),
        )
        if (code === 'accepted') await new Promise((resolve) => setTimeout(resolve, 50)) // the 100 ms timer, real time
      }
      t.equal(code, 'token_revoked')
    })

    t.test('before the first revocation poll succeeds, tokens are refused with 503-class errors', async (t) => {
      const latchkey = await startLatchkey(t, dialect)
      const verifier = createVerifier({
        issuer: latchkey.issuer,
        audience: NOTES_AUDIENCE,
        clock: latchkey.clock.now,
        revocationsUri: 'http://127.0.0.1:1/oauth/revocations',
        fetchTimeoutMs: 1000,
      })
      t.teardown(() => verifier.close())
      const { accessToken } = await grantNotes(latchkey, 'ada@example.com')
      await t.rejects(verifier.verify(accessToken), { code: 'revocations_unavailable' })
    })
  })
}
