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
import { SESSION_END_BUDGET } from '../../server/sessions/session-end-budget.js'
import { REVOCATION_FEED_REFRESH_MS } from '../../server/tokens/revocation-feed.js'

// Issue 11, "still open": one user's sessions ended one by one (a code-replay loop on a hosted
// sign-in) grew the public revocation feed by an entry each, without bound.

const REDIRECT = 'https://app.example.com/callback'
const AUDIENCE = 'https://api.example.com'

interface FeedBody {
  sessions: Array<{ sid: string }>
  users: Array<{ sub: string; issued_before: number }>
}

async function world(t: Test, dialect: 'sqlite' | 'postgres') {
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
  t.test(`a code-replay loop on one user keeps the feed bounded on ${dialect}`, async (t) => {
    const { latchkey, spa, jar, verifier } = await world(t, dialect)
    const minted: string[] = []
    const statuses: number[] = []
    for (let i = 0; i < SESSION_END_BUDGET + 15; i++) {
      const { fields } = await authorize(latchkey, spa, jar)
      const first = await exchangeCode(latchkey, fields)
      statuses.push(first.statusCode)
      if (first.statusCode !== 200) continue
      minted.push(first.json<{ access_token: string }>().access_token)
      const replay = await exchangeCode(latchkey, fields)
      t.equal(replay.statusCode, 400, 'the replay is refused')
    }
    t.equal(minted.length, SESSION_END_BUDGET, 'the user opened sessions until the budget was spent')
    t.same(new Set(statuses.slice(SESSION_END_BUDGET)), new Set([429]), 'then no more')

    const feed = await readFeed(latchkey)
    t.comment(`${statuses.length} rounds: ${minted.length} sessions, feed ${feed.bytes} bytes`)
    t.equal(
      feed.body.sessions.length,
      SESSION_END_BUDGET,
      'regression: every round added a session entry, without bound',
    )
    t.ok(feed.bytes < SESSION_END_BUDGET * 60 + 200, `the feed stays small (${feed.bytes} bytes)`)

    await verifier.refreshRevocations()
    const verdicts = await Promise.all(minted.map((token) => refusal(verifier, token)))
    t.same(new Set(verdicts), new Set(['token_revoked']), 'every replayed session is refused at the resource service')
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
