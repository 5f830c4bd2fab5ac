import t, { type Test } from 'tap'
import { createVerifier, VerifierError } from '@latchkey/verifier'
import { registerClient, type TestClient } from '../helpers/build-test-app.js'
import { startLatchkey, type ListeningLatchkey } from '../helpers/resource-service.js'
import { testDialects } from '../helpers/test-database.js'
import { login, registerUser } from '../helpers/users.js'
import {
  CookieJar,
  authorizeUrl,
  browse,
  exchangeCode,
  pkcePair,
  redirectParams,
  signInOnPage,
} from '../helpers/authorize.js'
import { REVOCATION_FEED_REFRESH_MS } from '../../server/tokens/revocation-feed.js'

// Issue 11, "still open": one user's sessions ended one by one (a code-replay loop on a hosted
// sign-in) grow the public revocation feed by an entry each. What bounds that growth is the time an
// entry stays (one access-token lifetime plus the clock skew: after that its tokens are expired
// everywhere) and the rate entries can be made (the token and sign-in budgets); a later cut-off of
// the user makes the entries of sessions ended before it redundant.

const REDIRECT = 'https://app.example.com/callback'
const AUDIENCE = 'https://api.example.com'

interface FeedBody {
  sessions: Array<{ sid: string }>
  users: Array<{ sub: string; issued_before: number }>
}

async function world(t: Test, dialect: 'sqlite' | 'postgres', clockToleranceSeconds = 5) {
  const latchkey = await startLatchkey(t, dialect)
  const spa = await registerClient(latchkey, {
    name: 'SPA',
    type: 'public',
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['openid'],
    audiences: [AUDIENCE],
    redirectUris: [REDIRECT],
    firstParty: true,
  })
  await registerUser(latchkey, 'ada@example.com')
  const jar = new CookieJar()
  const verifier = createVerifier({
    issuer: latchkey.issuer,
    audience: AUDIENCE,
    clock: latchkey.clock.now,
    revocationPollIntervalMs: 3_600_000,
    clockToleranceSeconds,
  })
  t.teardown(() => verifier.close())
  return { latchkey, spa, jar, verifier }
}

/** One hosted authorization: a sign-in the first time, the browser's sign-in after that. */
async function authorize(latchkey: ListeningLatchkey, spa: TestClient, jar: CookieJar) {
  const { verifier, challenge } = pkcePair()
  const url = authorizeUrl({ clientId: spa.id, redirectUri: REDIRECT, challenge, scope: 'openid' })
  let res = await browse(latchkey, jar, url)
  if (res.statusCode === 200) res = await signInOnPage(latchkey, jar, res.body, 'ada@example.com')
  const code = redirectParams(res).get('code')
  if (code === null) throw new Error(`no code: ${res.statusCode} ${String(res.headers.location)}`)
  return { code, fields: { code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: spa.id } }
}

async function readFeed(latchkey: ListeningLatchkey) {
  latchkey.clock.advance(REVOCATION_FEED_REFRESH_MS)
  const res = await latchkey.app.inject('/oauth/revocations')
  return { body: res.json<FeedBody>(), bytes: Buffer.byteLength(res.body) }
}

async function refusal(verifier: ReturnType<typeof createVerifier>, token: string): Promise<string> {
  try {
    await verifier.verify(token)
    return 'accepted'
  } catch (error) {
    return error instanceof VerifierError ? error.code : 'other error'
  }
}

for (const dialect of testDialects()) {
  t.test(`a replayed session leaves the feed once its tokens cannot be valid anywhere on ${dialect}`, async (t) => {
    // The verifier with the most leeway it allows (60 s): the feed's skew must cover it.
    const { latchkey, spa, jar, verifier } = await world(t, dialect, 60)
    const minted: string[] = []
    for (let i = 0; i < 5; i++) {
      const { fields } = await authorize(latchkey, spa, jar)
      minted.push((await exchangeCode(latchkey, fields)).json<{ access_token: string }>().access_token)
      t.equal((await exchangeCode(latchkey, fields)).statusCode, 400, 'replayed: the session ends')
    }
    const endedAt = latchkey.clock.now()
    const { accessTokenTtlMs, clockSkewMs } = latchkey.config
    const lifetime = accessTokenTtlMs + clockSkewMs
    // The feed re-reads the database at most once a REVOCATION_FEED_REFRESH_MS.
    const readAt = async (at: number) => {
      latchkey.clock.advance(at - latchkey.clock.now())
      const res = await latchkey.app.inject('/oauth/revocations')
      return { body: res.json<FeedBody>(), bytes: Buffer.byteLength(res.body) }
    }

    const fresh = await readAt(endedAt + REVOCATION_FEED_REFRESH_MS)
    t.equal(fresh.body.sessions.length, 5, 'one entry per ended session')
    t.comment(`5 session entries: ${fresh.bytes} bytes`)
    await verifier.refreshRevocations()
    t.same(new Set(await Promise.all(minted.map((token) => refusal(verifier, token)))), new Set(['token_revoked']))

    const before = await readAt(endedAt + lifetime - REVOCATION_FEED_REFRESH_MS)
    t.equal(before.body.sessions.length, 5, 'still listed a second before')
    const later = await readAt(endedAt + lifetime)
    t.same(later.body.sessions, [], 'gone one access-token lifetime plus the skew after the session ended')
    t.ok(later.bytes < fresh.bytes, `the feed shrank back (${fresh.bytes} -> ${later.bytes} bytes)`)
    await verifier.refreshRevocations()
    t.same(
      new Set(await Promise.all(minted.map((token) => refusal(verifier, token)))),
      new Set(['token_expired']),
      "by then every token of those sessions is expired, even with the verifier's largest leeway",
    )
  })

  t.test(`a user's cut-off makes the entries of sessions ended before it redundant on ${dialect}`, async (t) => {
    const { latchkey, spa, jar, verifier } = await world(t, dialect)
    const minted: string[] = []
    for (let i = 0; i < 5; i++) {
      const { fields } = await authorize(latchkey, spa, jar)
      const res = await exchangeCode(latchkey, fields)
      minted.push(res.json<{ access_token: string }>().access_token)
      t.equal((await exchangeCode(latchkey, fields)).statusCode, 400, 'replayed: the session ends')
    }
    t.equal((await readFeed(latchkey)).body.sessions.length, 5)
    latchkey.clock.advance(2 * latchkey.config.clockSkewMs)

    const { fields } = await authorize(latchkey, spa, jar)
    const live = (await exchangeCode(latchkey, fields)).json<{ access_token: string }>().access_token
    minted.push(live)
    const firstParty = await login(latchkey, 'ada@example.com')
    const out = await latchkey.app.inject({
      method: 'POST',
      url: '/auth/logout-all',
      headers: { authorization: `Bearer ${firstParty.accessToken}` },
    })
    t.equal(out.statusCode, 204)

    const feed = await readFeed(latchkey)
    t.equal(feed.body.users.length, 1, "the user's cut-off")
    t.equal(
      feed.body.sessions.length,
      2,
      'regression: sessions ended before the cut-off stayed listed; only the two it ended are left',
    )
    await verifier.refreshRevocations()
    const verdicts = await Promise.all(minted.map((token) => refusal(verifier, token)))
    t.same(new Set(verdicts), new Set(['token_revoked']), 'every token of the user is still refused')
  })
}
