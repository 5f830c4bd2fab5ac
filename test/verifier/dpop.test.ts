import t from 'tap'
import Fastify from 'fastify'
import { createMemoryDpopReplayStore, createVerifier, type DpopReplayStore } from '@latchkey/verifier'
import { latchkeyAuth } from '@latchkey/verifier/fastify'
import { registerClient } from '../helpers/build-test-app.js'
import { makeProof, proofKey } from '../helpers/dpop.js'
import { NOTES_AUDIENCE, startLatchkey } from '../helpers/resource-service.js'

const ORIGIN = 'https://notes.example.com'
const NOTES_URL = `${ORIGIN}/notes`
const DPOP_CHALLENGE = (error: string, description: string) =>
  `DPoP error="${error}", error_description="${description}", algs="ES256 EdDSA RS256 PS256"`

t.test('the verifier checks DPoP proofs for DPoP-bound tokens', async (t) => {
  const latchkey = await startLatchkey(t, 'sqlite')
  const client = await registerClient(latchkey, { audiences: [NOTES_AUDIENCE] })
  const key = await proofKey()
  const now = () => latchkey.clock.now()
  const tokenUrl = `${latchkey.issuer}/oauth/token`
  const requestToken = (dpop?: string) =>
    fetch(tokenUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: client.basic,
        ...(dpop === undefined ? {} : { dpop }),
      },
      body: 'grant_type=client_credentials',
    })
  const first = await requestToken(await makeProof(key, now(), { htm: 'POST', htu: tokenUrl }))
  t.equal(first.status, 400, 'the nonce dance')
  const nonce = first.headers.get('dpop-nonce')!
  const issued = await requestToken(await makeProof(key, now(), { htm: 'POST', htu: tokenUrl, nonce }))
  const dpopToken = ((await issued.json()) as { access_token: string }).access_token
  const bearerToken = ((await (await requestToken()).json()) as { access_token: string }).access_token

  const claimed: string[] = []
  const seen = new Set<string>()
  // A store of our own, as a service with several instances would plug in (Redis, say).
  const replayStore: DpopReplayStore = {
    async claim(key) {
      claimed.push(key)
      if (seen.has(key)) return false
      seen.add(key)
      return true
    },
  }
  const verifier = createVerifier({
    issuer: latchkey.issuer,
    audience: NOTES_AUDIENCE,
    clock: now,
    onError: () => {},
    dpop: { replayStore },
  })
  const app = Fastify()
  await app.register(latchkeyAuth, { verifier, origin: ORIGIN })
  app.get('/notes', async (request) => ({ sub: request.auth?.sub }))
  t.teardown(async () => {
    verifier.close()
    await app.close()
  })
  const notes = (authorization: string, dpop?: string) =>
    app.inject({ method: 'GET', url: '/notes?page=2', headers: { authorization, ...(dpop ? { dpop } : {}) } })
  const goodProof = () => makeProof(key, now(), { htm: 'GET', htu: NOTES_URL, accessToken: dpopToken })

  t.test('a DPoP token with a proof of its key is accepted', async (t) => {
    const res = await notes(`DPoP ${dpopToken}`, await goodProof())
    t.equal(res.statusCode, 200)
    t.same(res.json(), { sub: client.id })
    t.equal(claimed.length, 1, 'the jti went to the pluggable store')
  })

  t.test('the same proof twice is a replay', async (t) => {
    const proof = await goodProof()
    t.equal((await notes(`DPoP ${dpopToken}`, proof)).statusCode, 200)
    const res = await notes(`DPoP ${dpopToken}`, proof)
    t.equal(res.statusCode, 401)
    t.same(res.json(), { error: 'invalid_dpop_proof', error_description: 'The DPoP proof is missing or invalid' })
    t.equal(
      res.headers['www-authenticate'],
      DPOP_CHALLENGE('invalid_dpop_proof', 'The DPoP proof is missing or invalid'),
    )
  })

  t.test('a DPoP-bound token presented as Bearer is refused with a DPoP challenge', async (t) => {
    const res = await notes(`Bearer ${dpopToken}`)
    t.equal(res.statusCode, 401)
    t.equal(res.json().error, 'invalid_token')
    t.equal(
      res.headers['www-authenticate'],
      DPOP_CHALLENGE('invalid_token', 'The access token must be presented with the scheme it is bound to'),
    )
  })

  t.test('the plugin checks htu against its configured origin, never the Host header', async (t) => {
    const spoofedHost = 'anything.attacker.example'
    const proof = await makeProof(key, now(), {
      htm: 'GET',
      htu: `http://${spoofedHost}/notes`,
      accessToken: dpopToken,
    })
    const res = await app.inject({
      method: 'GET',
      url: '/notes',
      headers: { host: spoofedHost, authorization: `DPoP ${dpopToken}`, dpop: proof },
    })
    t.equal(res.statusCode, 401)
    t.equal(res.json().error, 'invalid_dpop_proof')
  })

  t.test('the plugin refuses to register without an origin unless DPoP is off', async (t) => {
    const bare = Fastify()
    t.teardown(() => bare.close())
    await t.rejects(async () => {
      await bare.register(latchkeyAuth, { verifier }).ready()
    }, /latchkeyAuth needs `origin`/)
    const bearerOnly = Fastify()
    t.teardown(() => bearerOnly.close())
    await bearerOnly.register(latchkeyAuth, { verifier, dpop: false })
    bearerOnly.get('/notes', async (request) => ({ sub: request.auth?.sub }))
    t.equal(
      (await bearerOnly.inject({ url: '/notes', headers: { authorization: `Bearer ${bearerToken}` } })).statusCode,
      200,
    )
    const bound = await bearerOnly.inject({
      url: '/notes',
      headers: { authorization: `DPoP ${dpopToken}`, dpop: await goodProof() },
    })
    t.equal(bound.statusCode, 401, 'without DPoP a bound token is refused')
    const withPath = Fastify()
    t.teardown(() => withPath.close())
    await t.rejects(async () => {
      await withPath.register(latchkeyAuth, { verifier, origin: 'https://notes.example.com/api' }).ready()
    }, /must be a scheme and host only/)
  })

  t.test('a bad token sent with the DPoP scheme gets a DPoP challenge', async (t) => {
    const res = await notes('DPoP abc.def.ghi', await goodProof())
    t.equal(res.statusCode, 401)
    t.equal(res.json().error, 'invalid_token')
    t.equal(res.headers['www-authenticate'], DPOP_CHALLENGE('invalid_token', 'The access token is malformed'))
  })

  t.test('verify() refuses a DPoP-bound token, which needs its proof', async (t) => {
    const refused = await verifier.verify(dpopToken).then(
      () => 'accepted',
      (error: { code?: string }) => error.code,
    )
    t.equal(refused, 'token_dpop_mismatch')
    t.equal((await verifier.verify(bearerToken)).sub, client.id, 'an unbound token still verifies')
  })

  t.test('an unbound token still works as Bearer and is refused as DPoP', async (t) => {
    t.equal((await notes(`Bearer ${bearerToken}`)).statusCode, 200)
    const asDpop = await notes(
      `DPoP ${bearerToken}`,
      await makeProof(key, now(), { htm: 'GET', htu: NOTES_URL, accessToken: bearerToken }),
    )
    t.equal(asDpop.statusCode, 401)
    t.equal(asDpop.json().error, 'invalid_token')
  })

  t.test('proofs that fail a check are refused', async (t) => {
    const other = await proofKey()
    const iat = Math.floor(now() / 1000)
    const cases: [string, string | undefined][] = [
      ['no proof', undefined],
      ['wrong htm', await makeProof(key, now(), { htm: 'POST', htu: NOTES_URL, accessToken: dpopToken })],
      ['wrong htu', await makeProof(key, now(), { htm: 'GET', htu: `${ORIGIN}/other`, accessToken: dpopToken })],
      ['no ath', await makeProof(key, now(), { htm: 'GET', htu: NOTES_URL })],
      ['ath of another token', await makeProof(key, now(), { htm: 'GET', htu: NOTES_URL, accessToken: bearerToken })],
      [
        'stale iat',
        await makeProof(key, now(), { htm: 'GET', htu: NOTES_URL, accessToken: dpopToken, iat: iat - 300 }),
      ],
      ['another key', await makeProof(other, now(), { htm: 'GET', htu: NOTES_URL, accessToken: dpopToken })],
    ]
    for (const [name, proof] of cases) {
      const res = await notes(`DPoP ${dpopToken}`, proof)
      t.equal(res.statusCode, 401, name)
      t.equal(res.json().error, 'invalid_dpop_proof', name)
    }
  })
})

t.test('the in-memory replay store, when full of live jtis, refuses new ones rather than forget one', async (t) => {
  let now = 1_000_000
  const store = createMemoryDpopReplayStore({ clock: () => now, maxEntries: 3 })
  const until = now + 120_000
  t.equal(await store.claim('victim', until), true)
  t.equal(await store.claim('flood-1', until), true)
  t.equal(await store.claim('flood-2', until), true)
  const full = await store.claim('flood-3', until).then(
    () => 'accepted',
    (error: { code?: string }) => error.code,
  )
  t.equal(full, 'dpop_proof_invalid', 'a new jti is refused while every entry is live')
  t.equal(await store.claim('victim', until), false, 'the first jti is still remembered: no replay')
  now = until
  t.equal(await store.claim('fresh', now + 120_000), true, 'expired entries make room')
  t.equal(await store.claim('victim', now + 120_000), true, 'an expired jti is forgotten')
})
