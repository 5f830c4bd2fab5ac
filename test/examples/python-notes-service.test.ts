import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import t from 'tap'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { freePort } from '../helpers/free-port.js'
import { grantNotes, NOTES_AUDIENCE, startLatchkey, type ListeningLatchkey } from '../helpers/resource-service.js'
import { testDialects, type Tap } from '../helpers/test-database.js'
import { browserHeaders, claimsOf, login } from '../helpers/users.js'
import { findUserById } from '../../server/users/user.store.js'
import { findSessionById } from '../../server/sessions/session.store.js'
import { issueUserAccessToken } from '../../server/tokens/user-access-token.js'

const serviceDir = path.resolve(import.meta.dirname, '../../examples/python-notes-service')
// Debian's interpreter, where apt installs python3-fastapi & co. (a python3 earlier on PATH, e.g.
// pyenv's, would not have them).
const PYTHON = '/usr/bin/python3'
const POLL_MS = 200
const MAX_STALENESS_MS = 2000

/**
 * The FastAPI service as its README runs it, polling the feed every POLL_MS, ready (keys and feed
 * loaded) when this returns; killed at teardown. Only the staleness test uses the short
 * MAX_STALENESS_MS: on a loaded machine a poll can lag that long.
 */
async function startPythonNotes(t: Tap, latchkey: ListeningLatchkey, maxStalenessMs = 60_000): Promise<string> {
  const port = await freePort()
  const service = spawn(PYTHON, ['server.py'], {
    cwd: serviceDir,
    env: {
      PATH: process.env.PATH ?? '',
      PYTHONDONTWRITEBYTECODE: '1',
      LATCHKEY_ISSUER: latchkey.issuer,
      NOTES_AUDIENCE,
      PORT: String(port),
      NOTES_REVOCATION_POLL_MS: String(POLL_MS),
      NOTES_REVOCATION_MAX_STALENESS_MS: String(maxStalenessMs),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  service.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<void>((resolve) => service.once('exit', () => resolve()))
  t.teardown(async () => {
    service.kill()
    await exited
  })
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    if (service.exitCode !== null) throw new Error(`the Python notes service exited: ${stderr}`)
    const up = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    )
    if (up) return base
    if (Date.now() > deadline) throw new Error(`the Python notes service did not start: ${stderr}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
const challenge = (description: string) => `Bearer error="invalid_token", error_description="${description}"`

async function readNotes(base: string, userId: string, token: string) {
  const res = await fetch(`${base}/users/${userId}/notes`, { headers: bearer(token) })
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body: (await res.json()) as unknown }
}

/** Reads until the answer is no longer 200 or the deadline passes; returns the answer and how long it took. */
async function readUntilRefused(base: string, userId: string, token: string, deadlineMs: number) {
  const started = Date.now()
  for (;;) {
    const answer = await readNotes(base, userId, token)
    if (answer.status !== 200 || Date.now() - started > deadlineMs) return { ...answer, ms: Date.now() - started }
    await new Promise((r) => setTimeout(r, 25))
  }
}

t.test("docs/resource-services.md shows the Python service's entry point exactly as it is tested", async (t) => {
  const docs = fs.readFileSync(path.resolve(serviceDir, '../../docs/resource-services.md'), 'utf8')
  t.ok(docs.includes(fs.readFileSync(path.join(serviceDir, 'server.py'), 'utf8')), 'server.py embedded verbatim')
})

for (const dialect of testDialects()) {
  t.test(`the Python notes service against a listening Latchkey on ${dialect}`, async (t) => {
    const latchkey = await startLatchkey(t, dialect)
    const base = await startPythonNotes(t, latchkey)
    // The child runs on the real clock, which the test clock started from.
    const ada = await grantNotes(latchkey, 'ada@example.com')
    const bob = await grantNotes(latchkey, 'bob@example.com')

    t.test("a user reads and writes their own notes and no one else's", async (t) => {
      const created = await fetch(`${base}/users/${ada.userId}/notes`, {
        method: 'POST',
        headers: { ...bearer(ada.accessToken), 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'buy milk' }),
      })
      t.equal(created.status, 201)
      const note = (await created.json()) as { id: string; text: string; created_at: string }
      t.equal(note.text, 'buy milk')
      t.same(await readNotes(base, ada.userId, ada.accessToken), {
        status: 200,
        challenge: null,
        body: { notes: [note] },
      })

      t.same(
        await readNotes(base, ada.userId, bob.accessToken),
        { status: 403, challenge: null, body: { error: 'forbidden', error_description: 'these are not your notes' } },
        'a valid token of another user is refused',
      )
      const write = await fetch(`${base}/users/${ada.userId}/notes`, {
        method: 'POST',
        headers: { ...bearer(bob.accessToken), 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'mine now' }),
      })
      t.equal(write.status, 403)
      t.same((await readNotes(base, bob.userId, bob.accessToken)).body, { notes: [] }, "bob's own list stays empty")
      t.same((await readNotes(base, ada.userId, ada.accessToken)).body, { notes: [note] }, "ada's list is unchanged")

      const bad = await fetch(`${base}/users/${ada.userId}/notes`, {
        method: 'POST',
        headers: { ...bearer(ada.accessToken), 'content-type': 'application/json' },
        body: JSON.stringify({ text: 42 }),
      })
      t.same(
        [bad.status, await bad.json()],
        [400, { error: 'invalid_request', error_description: 'the request is not valid' }],
      )
    })

    t.test('scopes are enforced with RFC 6750 insufficient_scope', async (t) => {
      const reader = await grantNotes(latchkey, 'reader@example.com', ['notes:read'])
      t.equal((await readNotes(base, reader.userId, reader.accessToken)).status, 200)
      const res = await fetch(`${base}/users/${reader.userId}/notes`, {
        method: 'POST',
        headers: { ...bearer(reader.accessToken), 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'x' }),
      })
      t.equal(res.status, 403)
      t.equal(
        res.headers.get('www-authenticate'),
        'Bearer error="insufficient_scope", error_description="The access token lacks the scope this request needs", scope="notes:write"',
      )
      t.same(await res.json(), {
        error: 'insufficient_scope',
        error_description: 'The access token lacks the scope this request needs',
      })
    })

    t.test('a DPoP-bound token presented as Bearer is refused with a DPoP challenge', async (t) => {
      const user = (await findUserById(latchkey.deps.db, ada.userId))!
      const session = (await findSessionById(latchkey.deps.db, ada.sessionId))!
      const bound = await issueUserAccessToken(latchkey.deps, user, session, 'x'.repeat(43))
      const res = await readNotes(base, ada.userId, bound.token)
      const description = 'The access token must be presented with the scheme it is bound to'
      t.same(res.status, 401)
      t.same(res.body, { error: 'invalid_token', error_description: description })
      t.equal(
        res.challenge,
        `DPoP error="invalid_token", error_description="${description}", algs="ES256 EdDSA RS256 PS256"`,
      )
    })

    t.test('no token, and forged, foreign or expired tokens are refused', async (t) => {
      const none = await fetch(`${base}/users/${ada.userId}/notes`)
      t.same(
        [none.status, none.headers.get('www-authenticate'), await none.json()],
        [401, 'Bearer', { error: 'invalid_request', error_description: 'A bearer access token is required' }],
      )

      const badBody = await fetch(`${base}/users/${ada.userId}/notes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{',
      })
      t.equal(badBody.status, 401, 'the token is checked before the body is read')

      const [headerPart, payloadPart, signature] = ada.accessToken.split('.') as [string, string, string]
      const header = JSON.parse(Buffer.from(headerPart, 'base64url').toString()) as Record<string, unknown>
      const claims = claimsOf(ada.accessToken)
      const now = Math.floor(latchkey.clock.now() / 1000)
      const sign = (c: Record<string, unknown>, typ = 'at+jwt') => latchkey.deps.keystore.sign(c, typ)
      const publicJwk = (JSON.parse(latchkey.deps.keystore.jwks().json) as { keys: JWK[] }).keys.find(
        (k) => k.kid === header.kid,
      )!
      const attacker = await generateKeyPair('ES256', { extractable: true })
      const { client_id: _dropped, ...withoutClientId } = claims

      const cases: Array<[string, () => Promise<string> | string, string]> = [
        ['typ JWT (an ID token, say)', () => sign(claims, 'JWT'), 'The access token is not valid for this service'],
        [
          'another audience',
          () => sign({ ...claims, aud: 'http://other.test' }),
          'The access token is not valid for this service',
        ],
        [
          'another issuer',
          () => sign({ ...claims, iss: 'http://127.0.0.1:1' }),
          'The access token is not valid for this service',
        ],
        [
          'no client_id (a required claim)',
          () => sign(withoutClientId),
          'The access token is not valid for this service',
        ],
        ['expired a minute ago', () => sign({ ...claims, iat: now - 660, exp: now - 60 }), 'The access token expired'],
        [
          'alg none, empty signature',
          () => `${b64({ ...header, alg: 'none' })}.${payloadPart}.`,
          'The access token is malformed',
        ],
        [
          'alg none, the genuine signature kept',
          () => `${b64({ ...header, alg: 'none' })}.${payloadPart}.${signature}`,
          'The access token algorithm is not allowed',
        ],
        [
          'HS256 with the public key as the secret',
          () =>
            new SignJWT(claims)
              .setProtectedHeader({ ...header, alg: 'HS256' })
              .sign(new TextEncoder().encode(JSON.stringify(publicJwk))),
          'The access token algorithm is not allowed',
        ],
        [
          "the attacker's key embedded as jwk",
          async () =>
            new SignJWT(claims)
              .setProtectedHeader({ ...header, alg: 'ES256', jwk: await exportJWK(attacker.publicKey) })
              .sign(attacker.privateKey),
          'The access token has a header that is not allowed',
        ],
        [
          "the attacker's key under the published kid",
          () => new SignJWT(claims).setProtectedHeader({ ...header, alg: 'ES256' }).sign(attacker.privateKey),
          'The access token signature is invalid',
        ],
        [
          'an unknown kid',
          () =>
            new SignJWT(claims)
              .setProtectedHeader({ ...header, alg: 'ES256', kid: 'attacker' })
              .sign(attacker.privateKey),
          'The access token was signed with an unknown key',
        ],
      ]
      t.equal((await readNotes(base, ada.userId, ada.accessToken)).status, 200, 'the genuine token is accepted')
      t.equal(
        (await readNotes(base, ada.userId, await sign({ ...claims, jti: 'resigned' }))).status,
        200,
        'a token re-signed by Latchkey with the same claims is accepted (the cases below differ in one thing)',
      )
      for (const [name, make, description] of cases) {
        const answer = await readNotes(base, ada.userId, await make())
        t.same(
          answer,
          {
            status: 401,
            challenge: challenge(description),
            body: { error: 'invalid_token', error_description: description },
          },
          name,
        )
      }
    })

    t.test('revocations reach the service within one poll', async (t) => {
      t.test('logout', async (t) => {
        const carol = await grantNotes(latchkey, 'logout@example.com')
        t.equal((await readNotes(base, carol.userId, carol.accessToken)).status, 200)
        const res = await fetch(`${latchkey.issuer}/auth/logout`, {
          method: 'POST',
          headers: { ...browserHeaders(`__Host-latchkey_session=${carol.refreshToken}`), origin: latchkey.issuer },
        })
        t.equal(res.status, 204)
        // Latchkey re-reads its feed once its snapshot is a second old by its (test) clock.
        latchkey.clock.advance(1000)
        const after = await readUntilRefused(base, carol.userId, carol.accessToken, 10 * POLL_MS)
        t.same(
          { status: after.status, challenge: after.challenge, body: after.body },
          {
            status: 401,
            challenge: challenge('The access token has been revoked'),
            body: { error: 'invalid_token', error_description: 'The access token has been revoked' },
          },
        )
        t.comment(`refused ${after.ms} ms after the feed changed (poll interval ${POLL_MS} ms)`)
      })

      t.test("logout-all: the user's cut-off refuses tokens issued before it, whatever the session", async (t) => {
        const dave = await grantNotes(latchkey, 'all@example.com')
        const firstParty = await login(latchkey, 'all@example.com')
        const cutOff = Math.floor(latchkey.clock.now() / 1000)
        const res = await fetch(`${latchkey.issuer}/auth/logout-all`, {
          method: 'POST',
          headers: bearer(firstParty.accessToken),
        })
        t.equal(res.status, 204)
        latchkey.clock.advance(1000)
        const after = await readUntilRefused(base, dave.userId, dave.accessToken, 10 * POLL_MS)
        t.equal(after.status, 401)
        const claims = claimsOf(dave.accessToken)
        const older = await latchkey.deps.keystore.sign(
          { ...claims, sid: 'a-live-session', iat: cutOff - 1, jti: 'older' },
          'at+jwt',
        )
        const newer = await latchkey.deps.keystore.sign(
          { ...claims, sid: 'a-live-session', iat: cutOff, jti: 'newer' },
          'at+jwt',
        )
        t.equal((await readNotes(base, dave.userId, older)).status, 401, 'issued before the cut-off: refused')
        t.equal((await readNotes(base, dave.userId, newer)).status, 200, 'issued at the cut-off: accepted')
      })
    })

    // Last: it stops Latchkey.
    t.test('once the feed has not been read for too long, tokens are refused with 503 (fail closed)', async (t) => {
      const strict = await startPythonNotes(t, latchkey, MAX_STALENESS_MS)
      t.equal((await readNotes(strict, ada.userId, ada.accessToken)).status, 200)
      await latchkey.close()
      const after = await readUntilRefused(strict, ada.userId, ada.accessToken, MAX_STALENESS_MS + 10 * POLL_MS)
      t.same(
        { status: after.status, body: after.body },
        {
          status: 503,
          body: { error: 'temporarily_unavailable', error_description: 'Access tokens cannot be checked right now' },
        },
      )
      t.ok(after.ms >= MAX_STALENESS_MS - 2 * POLL_MS, `accepted on the last list for a while (${after.ms} ms)`)
    })
  })
}

// The signing algorithm does not depend on the database: SQLite only.
for (const [alg, switched] of [
  ['PS256', 'RS256'],
  ['EdDSA', 'ES256'],
] as const) {
  t.test(`Latchkey signing with ${alg}: accepted, and no switch to ${switched} under its key`, async (t) => {
    const latchkey = await startLatchkey(t, 'sqlite', { LATCHKEY_SIGNING_ALG: alg })
    const base = await startPythonNotes(t, latchkey)
    const ada = await grantNotes(latchkey, 'ada@example.com')
    const [headerPart, payloadPart, signature] = ada.accessToken.split('.') as [string, string, string]
    const header = JSON.parse(Buffer.from(headerPart, 'base64url').toString()) as Record<string, unknown>
    t.equal(header.alg, alg)
    t.equal((await readNotes(base, ada.userId, ada.accessToken)).status, 200)
    const description = 'The access token algorithm is not allowed'
    t.same(await readNotes(base, ada.userId, `${b64({ ...header, alg: switched })}.${payloadPart}.${signature}`), {
      status: 401,
      challenge: challenge(description),
      body: { error: 'invalid_token', error_description: description },
    })
  })
}
