import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { EmbeddedJWK, base64url, calculateJwkThumbprint, decodeProtectedHeader, jwtVerify } from 'jose'
import { createHash } from 'node:crypto'
import { createDpopSigner } from '../../client/src/dpop.js'
import { createTokenFetch } from '../../client/src/fetch-with-token.js'

// The browser client's DPoP proofs at a resource, in Node (WebCrypto and jose alike; IndexedDB is
// covered in Chromium by test/examples/web-app-dpop.test.ts). Latchkey's own resources do not ask
// for nonces, so a loopback resource that does stands in for one (RFC 9449 §9): it checks every
// proof with jose, asks for a nonce when a proof has none, and records what arrived.

interface Arrival {
  authorization: string | null
  header: Record<string, unknown>
  claims: Record<string, unknown>
}

/** `nonce` null: a resource that asks for a new nonce every time, whatever the proof carries. */
async function startResource(t: { teardown(fn: () => unknown): void }, nonce: string | null) {
  const arrivals: Arrival[] = []
  const server = http.createServer((request, response) => {
    void (async () => {
      const proof = request.headers.dpop
      if (typeof proof !== 'string') {
        arrivals.push({ authorization: request.headers.authorization ?? null, header: {}, claims: {} })
        return response.writeHead(200).end('no proof')
      }
      const { payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] })
      arrivals.push({
        authorization: request.headers.authorization ?? null,
        header: decodeProtectedHeader(proof),
        claims: payload,
      })
      if (nonce === null || payload.nonce !== nonce)
        return response
          .writeHead(401, {
            'www-authenticate': 'DPoP error="use_dpop_nonce"',
            'dpop-nonce': nonce ?? `nonce-${arrivals.length}`,
          })
          .end()
      response.writeHead(200).end('ok')
    })().catch(() => response.writeHead(400).end('bad proof'))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals }
}

const keyPair = () => crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])

t.test('a DPoP-bound token travels as DPoP with a proof of the request, retried once with the nonce', async (t) => {
  const api = await startResource(t, 'server-nonce-1')
  const signer = await createDpopSigner(await keyPair())
  let refreshes = 0
  const fetchWithToken = createTokenFetch({
    getToken: async () => 'the-token',
    refresh: async () => {
      refreshes++
      return null
    },
    apiOrigins: [api.origin],
    dpop: async () => signer,
  })

  const response = await fetchWithToken(`${api.origin}/notes/1?page=2#top`, { method: 'post', body: 'x' })
  t.equal(response.status, 200, 'answered after the nonce retry')
  t.equal(refreshes, 0, 'a nonce request is not an expired token: no refresh')
  t.equal(api.arrivals.length, 2, 'two requests: the first without a nonce, the second with it')
  const ath = base64url.encode(createHash('sha256').update('the-token').digest())
  for (const [i, arrival] of api.arrivals.entries()) {
    t.equal(arrival.authorization, 'DPoP the-token', `request ${i + 1}: the DPoP scheme`)
    t.match(arrival.header, { alg: 'ES256', typ: 'dpop+jwt', jwk: { kty: 'EC', crv: 'P-256' } })
    t.same(Object.keys(arrival.header.jwk as object).sort(), ['crv', 'kty', 'x', 'y'], 'the public members only')
    t.equal(await calculateJwkThumbprint(arrival.header.jwk as never), signer.jkt, "the signer's key")
    t.match(arrival.claims, { htm: 'POST', htu: `${api.origin}/notes/1`, ath, iat: Number })
    t.notOk('htu' in arrival.claims && String(arrival.claims.htu).includes('?'), 'htu has no query or fragment')
  }
  t.notOk('nonce' in api.arrivals[0]!.claims, 'the first proof had no nonce to carry')
  t.equal(api.arrivals[1]!.claims.nonce, 'server-nonce-1', 'the retry carries the nonce the resource sent')
  t.not(api.arrivals[0]!.claims.jti, api.arrivals[1]!.claims.jti, 'each proof has its own jti')

  await fetchWithToken(`${api.origin}/notes`)
  t.equal(api.arrivals.length, 3, 'the nonce is remembered for the origin: the next call needs no retry')
  t.match(api.arrivals[2]!.claims, { htm: 'GET', nonce: 'server-nonce-1' })
})

t.test('a resource that keeps asking for a nonce gets one retry, not a loop', async (t) => {
  const api = await startResource(t, null)
  const fetchWithToken = createTokenFetch({
    getToken: async () => 'the-token',
    refresh: async () => null,
    apiOrigins: [api.origin],
    dpop: async () => createDpopSigner(await keyPair()),
  })
  t.equal((await fetchWithToken(`${api.origin}/notes`)).status, 401, 'the second refusal is the answer')
  t.equal(api.arrivals.length, 2, 'two requests in all')
  t.equal(api.arrivals[1]!.claims.nonce, 'nonce-1', 'the retry carried the nonce of the first refusal')
})

t.test('a Bearer token (no signer) is sent as Bearer without a proof', async (t) => {
  const api = await startResource(t, 'unused')
  const fetchWithToken = createTokenFetch({
    getToken: async () => 'the-token',
    refresh: async () => null,
    apiOrigins: [api.origin],
    dpop: async () => null,
  })
  t.equal((await fetchWithToken(`${api.origin}/notes`)).status, 200)
  t.same(api.arrivals, [{ authorization: 'Bearer the-token', header: {}, claims: {} }])
})
