import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { createVerifier, type Verifier } from '@latchkey/verifier'
import { buildNotesService } from '../../examples/notes-service/app.js'
import { registerClient } from '../helpers/build-test-app.js'
import { cliEnv, runLatchkey } from '../helpers/run-cli.js'
import { grantNotes, NOTES_AUDIENCE, startLatchkey, type ListeningLatchkey } from '../helpers/resource-service.js'
import { testDialects, type Tap } from '../helpers/test-database.js'
import { browserHeaders, login, PASSWORD } from '../helpers/users.js'

interface NotesService {
  url: string
  verifier: Verifier
}

/** The example service, listening, with a verifier that shares Latchkey's test clock and polls only when told. */
async function startNotes(t: Tap, latchkey: ListeningLatchkey): Promise<NotesService> {
  const verifier = createVerifier({
    issuer: latchkey.issuer,
    audience: NOTES_AUDIENCE,
    clock: latchkey.clock.now,
    revocationPollIntervalMs: 3_600_000,
  })
  t.teardown(() => verifier.close())
  const app: FastifyInstance = await buildNotesService({ verifier, origin: 'http://localhost:4000' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return { url: app.listeningOrigin, verifier }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

async function readNotes(notes: NotesService, userId: string, token: string) {
  const res = await fetch(`${notes.url}/users/${userId}/notes`, { headers: bearer(token) })
  return {
    status: res.status,
    challenge: res.headers.get('www-authenticate'),
    body: (await res.json()) as Record<string, unknown>,
  }
}

for (const dialect of testDialects()) {
  t.test(`notes service against a listening Latchkey on ${dialect}`, async (t) => {
    t.test("a user reads and writes their own notes and no one else's", async (t) => {
      const latchkey = await startLatchkey(t, dialect)
      const notes = await startNotes(t, latchkey)
      const ada = await grantNotes(latchkey, 'ada@example.com')
      const bob = await grantNotes(latchkey, 'bob@example.com')

      const created = await fetch(`${notes.url}/users/${ada.userId}/notes`, {
        method: 'POST',
        headers: { ...bearer(ada.accessToken), 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'buy milk' }),
      })
      t.equal(created.status, 201)
      const note = (await created.json()) as { id: string; text: string }
      t.equal(note.text, 'buy milk')
      const own = await readNotes(notes, ada.userId, ada.accessToken)
      t.equal(own.status, 200)
      t.same(
        (own.body.notes as Array<{ id: string }>).map((n) => n.id),
        [note.id],
      )

      const other = await readNotes(notes, ada.userId, bob.accessToken)
      t.same(
        other,
        { status: 403, challenge: null, body: { error: 'forbidden', error_description: 'these are not your notes' } },
        'a valid token of another user is refused',
      )
      const write = await fetch(`${notes.url}/users/${ada.userId}/notes`, {
        method: 'POST',
        headers: { ...bearer(bob.accessToken), 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'mine now' }),
      })
      t.equal(write.status, 403)
      t.same((await readNotes(notes, bob.userId, bob.accessToken)).body, { notes: [] })
    })

    t.test('scopes are enforced with RFC 6750 insufficient_scope', async (t) => {
      const latchkey = await startLatchkey(t, dialect)
      const notes = await startNotes(t, latchkey)
      const reader = await grantNotes(latchkey, 'reader@example.com', ['notes:read'])
      t.equal((await readNotes(notes, reader.userId, reader.accessToken)).status, 200)
      const res = await fetch(`${notes.url}/users/${reader.userId}/notes`, {
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

    t.test('no token, a first-party login token and a client token are refused', async (t) => {
      const latchkey = await startLatchkey(t, dialect)
      const notes = await startNotes(t, latchkey)
      const ada = await grantNotes(latchkey, 'ada@example.com')
      const none = await fetch(`${notes.url}/users/${ada.userId}/notes`)
      t.equal(none.status, 401)
      t.equal(none.headers.get('www-authenticate'), 'Bearer', 'RFC 6750 §3.1: no error code without credentials')
      const loginToken = (await login(latchkey, 'ada@example.com')).accessToken
      const wrongAudience = await readNotes(notes, ada.userId, loginToken)
      t.equal(wrongAudience.status, 401, 'a token for Latchkey itself is not a token for the notes service')
      t.equal(
        wrongAudience.challenge,
        'Bearer error="invalid_token", error_description="The access token is not valid for this service"',
      )
      const client = await registerClient(latchkey, { audiences: [NOTES_AUDIENCE] })
      const issued = await fetch(`${latchkey.issuer}/oauth/token`, {
        method: 'POST',
        headers: { authorization: client.basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&scope=notes:read',
      })
      const clientToken = ((await issued.json()) as { access_token: string }).access_token
      t.equal((await readNotes(notes, ada.userId, clientToken)).status, 403, "a client token is no user's token")
    })

    t.test('revocations reach the service within one poll', async (t) => {
      const latchkey = await startLatchkey(t, dialect)
      const notes = await startNotes(t, latchkey)
      const pollOnce = async () => {
        // Latchkey re-reads its feed after one refresh interval; the service polls when told.
        latchkey.clock.advance(1000)
        await notes.verifier.refreshRevocations()
      }

      t.test('logout', async (t) => {
        const ada = await grantNotes(latchkey, 'logout@example.com')
        t.equal((await readNotes(notes, ada.userId, ada.accessToken)).status, 200)
        const res = await fetch(`${latchkey.issuer}/auth/logout`, {
          method: 'POST',
          headers: { ...browserHeaders(`__Host-latchkey_session=${ada.refreshToken}`), origin: latchkey.issuer },
        })
        t.equal(res.status, 204)
        t.equal(
          (await readNotes(notes, ada.userId, ada.accessToken)).status,
          200,
          'until the next poll the token still works',
        )
        await pollOnce()
        const after = await readNotes(notes, ada.userId, ada.accessToken)
        t.same(after, {
          status: 401,
          challenge: 'Bearer error="invalid_token", error_description="The access token has been revoked"',
          body: { error: 'invalid_token', error_description: 'The access token has been revoked' },
        })
      })

      t.test('logout-all', async (t) => {
        const ada = await grantNotes(latchkey, 'all@example.com')
        const firstParty = await login(latchkey, 'all@example.com')
        const loggedOutAt = latchkey.clock.now()
        const res = await fetch(`${latchkey.issuer}/auth/logout-all`, {
          method: 'POST',
          headers: bearer(firstParty.accessToken),
        })
        t.equal(res.status, 204)
        await pollOnce()
        t.equal((await readNotes(notes, ada.userId, ada.accessToken)).status, 401)

        // The user's cut-off on its own, whatever the session: a token of a live session with an iat
        // before the cut-off is refused, one issued after it is accepted.
        const claims = JSON.parse(Buffer.from(ada.accessToken.split('.')[1]!, 'base64url').toString()) as Record<
          string,
          unknown
        >
        const cutOff = Math.floor(loggedOutAt / 1000)
        const older = await latchkey.deps.keystore.sign(
          { ...claims, sid: 'a-live-session', iat: cutOff - 1, jti: 'older' },
          'at+jwt',
        )
        const newer = await latchkey.deps.keystore.sign(
          { ...claims, sid: 'a-live-session', iat: cutOff, jti: 'newer' },
          'at+jwt',
        )
        t.equal((await readNotes(notes, ada.userId, older)).status, 401)
        t.equal((await readNotes(notes, ada.userId, newer)).status, 200)
      })

      t.test('password change', async (t) => {
        const ada = await grantNotes(latchkey, 'change@example.com')
        const firstParty = await login(latchkey, 'change@example.com')
        const res = await fetch(`${latchkey.issuer}/auth/password-change`, {
          method: 'POST',
          headers: { ...bearer(firstParty.accessToken), 'content-type': 'application/json' },
          body: JSON.stringify({ current_password: PASSWORD, new_password: 'an entirely new passphrase 7' }),
        })
        t.equal(res.status, 204)
        await pollOnce()
        t.equal((await readNotes(notes, ada.userId, ada.accessToken)).status, 401)
      })

      t.test('user disabled by the CLI', async (t) => {
        const ada = await grantNotes(latchkey, 'disabled@example.com')
        const cli = await runLatchkey(
          ['users', 'disable', 'disabled@example.com'],
          cliEnv(latchkey.dataDir, latchkey.database),
        )
        t.equal(cli.code, 0, cli.stderr)
        // The CLI stamps its revocations with the real clock, which the test clock started from.
        latchkey.clock.set(Math.max(latchkey.clock.now(), Date.now()))
        await pollOnce()
        t.equal((await readNotes(notes, ada.userId, ada.accessToken)).status, 401)
        t.equal(notes.verifier.status().revocations?.users, 2, 'the logout-all and disable cut-offs are held')
      })
    })

    t.test('a rotated signing key is picked up without a restart', async (t) => {
      const latchkey = await startLatchkey(t, dialect)
      const notes = await startNotes(t, latchkey)
      const ada = await grantNotes(latchkey, 'ada@example.com')
      t.equal((await readNotes(notes, ada.userId, ada.accessToken)).status, 200)
      const kidsBefore = notes.verifier.status().kids
      // Twice, with the old key revoked: the signing key is one the service has never seen.
      const env = cliEnv(latchkey.dataDir, latchkey.database)
      for (let i = 0; i < 2; i++) {
        const rotated = await runLatchkey(['keys', 'rotate', '--revoke-current'], env)
        t.equal(rotated.code, 0, rotated.stderr)
      }
      await latchkey.deps.keystore.tick()
      const bob = await grantNotes(latchkey, 'bob@example.com')
      const kid = JSON.parse(Buffer.from(bob.accessToken.split('.')[0]!, 'base64url').toString()).kid as string
      t.notOk(kidsBefore.includes(kid), 'the new token is signed with a key unknown to the service')
      latchkey.clock.advance(31_000) // past the unknown-kid cooldown
      t.equal((await readNotes(notes, bob.userId, bob.accessToken)).status, 200)
      t.ok(notes.verifier.status().kids.includes(kid))
    })

    t.test('with Latchkey down, cached keys keep working and unknown kids fail closed', async (t) => {
      const latchkey = await startLatchkey(t, dialect)
      const notes = await startNotes(t, latchkey)
      const ada = await grantNotes(latchkey, 'ada@example.com')
      t.equal((await readNotes(notes, ada.userId, ada.accessToken)).status, 200)
      await latchkey.close()
      latchkey.clock.advance(120_000) // the cached key set is stale now; its refetch fails
      await t.rejects(notes.verifier.refreshKeys())
      await t.rejects(notes.verifier.refreshRevocations())
      t.equal((await readNotes(notes, ada.userId, ada.accessToken)).status, 200, 'the cached key still verifies')
      const [header, payload, signature] = ada.accessToken.split('.')
      const parsed = JSON.parse(Buffer.from(header!, 'base64url').toString()) as Record<string, unknown>
      const otherKid = `${Buffer.from(JSON.stringify({ ...parsed, kid: 'not-a-published-kid' })).toString('base64url')}.${payload}.${signature}`
      const res = await readNotes(notes, ada.userId, otherKid)
      t.equal(res.status, 401)
      t.equal(
        res.challenge,
        'Bearer error="invalid_token", error_description="The access token was signed with an unknown key"',
      )
    })
  })
}
