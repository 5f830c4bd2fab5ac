import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { exportJWK, exportSPKI, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose'
import { createVerifier, isVerifierError, type Verifier, type VerifierErrorCode } from '@latchkey/verifier'
import { buildNotesService } from '../../examples/notes-service/app.js'
import { grantNotes, NOTES_AUDIENCE, startLatchkey } from '../helpers/resource-service.js'
import type { Tap } from '../helpers/test-database.js'

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
const partsOf = (jwt: string) => {
  const [h, p, s] = jwt.split('.')
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>,
    signature: s!,
  }
}

/** A loopback listener that counts requests: jku and x5u must never reach it. */
async function startTrap(t: Tap): Promise<{ url: string; hits: () => number }> {
  let hits = 0
  const server = http.createServer((_req, res) => {
    hits++
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`, hits: () => hits }
}

async function codeOf(verifier: Verifier, token: string): Promise<VerifierErrorCode | 'accepted'> {
  try {
    await verifier.verify(token)
    return 'accepted'
  } catch (error) {
    if (isVerifierError(error)) return error.code
    throw error
  }
}

t.test('the attack set against the verifier and the notes service, on a listening Latchkey', async (t) => {
  const latchkey = await startLatchkey(t, 'sqlite')
  const clock = latchkey.clock
  const verifier = createVerifier({
    issuer: latchkey.issuer,
    audience: NOTES_AUDIENCE,
    clock: clock.now,
    revocationPollIntervalMs: 3_600_000,
  })
  t.teardown(() => verifier.close())
  const notes = await buildNotesService({ verifier, origin: 'http://localhost:4000' })
  await notes.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => notes.close())
  const ada = await grantNotes(latchkey, 'ada@example.com')
  const good = ada.accessToken
  const { header, payload, signature } = partsOf(good)
  const kid = header.kid as string
  const trap = await startTrap(t)
  const publicJwk = (JSON.parse(latchkey.deps.keystore.jwks().json) as { keys: JWK[] }).keys.find((k) => k.kid === kid)!
  const attacker = await generateKeyPair('ES256', { extractable: true })
  const attackerJwk = await exportJWK(attacker.publicKey)
  const rsa = await generateKeyPair('RS256')
  const signAs = (
    h: Record<string, unknown>,
    claims: Record<string, unknown>,
    key: CryptoKey | Uint8Array,
    alg = h.alg as string,
  ) => new SignJWT(claims).setProtectedHeader({ ...h, alg }).sign(key)
  const now = Math.floor(clock.now() / 1000)
  const sign = (claims: Record<string, unknown>, typ = 'at+jwt') => latchkey.deps.keystore.sign(claims, typ)

  t.equal(await codeOf(verifier, good), 'accepted', 'the genuine token is accepted')

  const attacks: Array<[string, () => Promise<string> | string, VerifierErrorCode]> = [
    ...['none', 'None', 'NONE', 'nOnE'].flatMap((alg): Array<[string, () => string, VerifierErrorCode]> => [
      [`alg ${alg}, empty signature`, () => `${b64({ ...header, alg })}.${b64(payload)}.`, 'token_malformed'],
      [`alg ${alg}, old signature`, () => `${b64({ ...header, alg })}.${b64(payload)}.${signature}`, 'alg_not_allowed'],
    ]),
    [
      'HS256 signed with the public key as the secret (JWK)',
      () => signAs({ ...header }, payload, new TextEncoder().encode(JSON.stringify(publicJwk)), 'HS256'),
      'alg_not_allowed',
    ],
    [
      'HS256 signed with the public key as the secret (PEM)',
      async () =>
        signAs(
          { ...header },
          payload,
          new TextEncoder().encode(await exportSPKI((await importJWK(publicJwk, 'ES256')) as CryptoKey)),
          'HS256',
        ),
      'alg_not_allowed',
    ],
    [
      'algorithm switch to RS256 under the published kid',
      () => signAs({ ...header }, payload, rsa.privateKey, 'RS256'),
      'alg_not_allowed',
    ],
    [
      'algorithm switch to ES384 under the published kid',
      () => `${b64({ ...header, alg: 'ES384' })}.${b64(payload)}.${signature}`,
      'alg_not_allowed',
    ],
    [
      'embedded jwk of the attacker, attacker kid',
      () => signAs({ ...header, kid: 'attacker', jwk: attackerJwk }, payload, attacker.privateKey),
      'header_not_allowed',
    ],
    [
      'embedded jwk of the attacker, published kid',
      () => signAs({ ...header, jwk: attackerJwk }, payload, attacker.privateKey),
      'header_not_allowed',
    ],
    [
      'jku pointing at a local listener',
      () => signAs({ ...header, kid: 'attacker', jku: trap.url }, payload, attacker.privateKey),
      'header_not_allowed',
    ],
    [
      'x5u pointing at a local listener',
      () => signAs({ ...header, kid: 'attacker', x5u: trap.url }, payload, attacker.privateKey),
      'header_not_allowed',
    ],
    [
      'kid path traversal',
      () => signAs({ ...header, kid: '../../../../etc/passwd' }, payload, attacker.privateKey),
      'key_unknown',
    ],
    [
      'kid SQL injection',
      () => signAs({ ...header, kid: "' OR '1'='1' --" }, payload, attacker.privateKey),
      'key_unknown',
    ],
    [
      'kid as an object',
      () => `${b64({ ...header, kid: { $ne: null } })}.${b64(payload)}.${signature}`,
      'token_malformed',
    ],
    [
      'kid of 10 KB',
      () => `${b64({ ...header, kid: 'k'.repeat(10 * 1024) })}.${b64(payload)}.${signature}`,
      'token_malformed',
    ],
    [
      'unknown crit header',
      () =>
        `${b64({ ...header, crit: ['x-latchkey-unknown'], 'x-latchkey-unknown': true })}.${b64(payload)}.${signature}`,
      'header_not_allowed',
    ],
    [
      'tampered payload with the old signature',
      () => `${b64(header)}.${b64({ ...payload, scope: 'notes:read notes:write admin' })}.${signature}`,
      'signature_invalid',
    ],
    [
      'tampered sub with the old signature',
      () => `${b64(header)}.${b64({ ...payload, sub: 'someone-else' })}.${signature}`,
      'signature_invalid',
    ],
    ['expired beyond leeway', () => sign({ ...payload, iat: now - 700, exp: now - 10 }), 'token_expired'],
    ['not yet valid beyond leeway', () => sign({ ...payload, nbf: now + 60 }), 'token_not_yet_valid'],
    ['wrong iss', () => sign({ ...payload, iss: 'http://127.0.0.1:1' }), 'claim_invalid'],
    ['issuer with a trailing slash', () => sign({ ...payload, iss: `${latchkey.issuer}/` }), 'claim_invalid'],
    ['wrong aud', () => sign({ ...payload, aud: 'http://other.test' }), 'claim_invalid'],
    ['missing jti', () => sign({ ...payload, jti: undefined }), 'claim_invalid'],
    ['missing client_id', () => sign({ ...payload, client_id: undefined }), 'claim_invalid'],
    ['typ JWT', () => sign(payload, 'JWT'), 'claim_invalid'],
    [
      'an ID token',
      () =>
        sign(
          { iss: latchkey.issuer, sub: ada.userId, aud: NOTES_AUDIENCE, iat: now, exp: now + 300, nonce: 'n' },
          'JWT',
        ),
      'claim_invalid',
    ],
    ['a refresh token', () => ada.refreshToken, 'token_malformed'],
    ['two segments', () => `${b64(header)}.${b64(payload)}`, 'token_malformed'],
    ['five segments (JWE shape)', () => `${b64(header)}.${b64(payload)}.${signature}.aaaa.bbbb`, 'token_malformed'],
    ['bad base64url', () => `${b64(header)}.${b64(payload)}.${signature}`.replace('.', '+.'), 'token_malformed'],
    ['header that is not JSON', () => `${b64('not json')}.${b64(payload)}.${signature}`, 'token_malformed'],
    ['payload that is not JSON, old signature', () => `${b64(header)}.${b64('[1')}.${signature}`, 'signature_invalid'],
    ['1 MB token', () => `${b64(header)}.${'A'.repeat(1024 * 1024)}.${signature}`, 'token_malformed'],
    ['empty token', () => '', 'token_malformed'],
  ]

  for (const [name, make, expected] of attacks) {
    const token = await make()
    t.equal(await codeOf(verifier, token), expected, `verifier: ${name}`)
    const res = await fetch(`${notes.listeningOrigin}/users/${ada.userId}/notes`, {
      headers: { authorization: `Bearer ${token}` },
    })
    // Node refuses request headers over 16 KB before any handler runs (431).
    const expectedStatus = token.length > 16_000 ? 431 : 401
    t.equal(res.status, expectedStatus, `notes service: ${name} -> ${expectedStatus}`)
    if (expectedStatus === 401) {
      t.match(res.headers.get('www-authenticate'), /^Bearer( error="invalid_token", error_description="[^"]+")?$/)
      t.equal(((await res.json()) as { error: string }).error, token === '' ? 'invalid_request' : 'invalid_token')
    }
  }
  t.equal(trap.hits(), 0, 'the jku/x5u listener received no request')
  t.equal(
    await codeOf(verifier, await sign({ ...payload, iat: now - 600, exp: now - 3 })),
    'accepted',
    'expired 3 s ago is within the 5 s leeway',
  )
  t.equal(
    await codeOf(verifier, await sign({ ...payload, nbf: now + 3 })),
    'accepted',
    'valid in 3 s is within the 5 s leeway',
  )
  t.equal(await codeOf(verifier, good), 'accepted', 'the genuine token is still accepted after the attacks')
})
