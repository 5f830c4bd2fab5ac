import t from 'tap'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { runMaintenance } from '../../server/maintenance.js'
import { insertSession, revokeSession, revokeSessionsOfUser } from '../../server/sessions/session.store.js'
import { revokeAccessToken } from '../../server/sessions/revoked-access-token.store.js'
import { cutOffUserTokens, insertUserIfAbsent } from '../../server/users/user.store.js'
import { cutOffClientTokens } from '../../server/clients/client.store.js'
import { stampAccessTokenLifetime } from '../../server/tokens/access-token-lifetime.store.js'
import {
  REVOCATION_FEED_FULL_READ_MS,
  REVOCATION_FEED_REFRESH_MS,
  readRevocationSnapshot,
} from '../../server/tokens/revocation-feed.js'

// Issue 11: between full reads the feed reads only the rows changed since its previous read and
// merges them into the ones it kept. Whatever happens in between, what it serves must be exactly
// what reading everything would give.

const TTL_MS = 5 * 60_000
const USERS = 12
const CLIENTS = 4

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
function random(seed: number) {
  let a = seed
  const next = () => {
    a = (a + 0x6d2b79f5) | 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: T[]) => xs[Math.floor(next() * xs.length)]! }
}

async function world(testApp: TestApp) {
  const { db } = testApp.deps
  const clock = testApp.clock
  const users: string[] = []
  for (let i = 0; i < USERS; i++) {
    const id = `user-${i}`
    await insertUserIfAbsent(db, {
      id,
      email: `u${i}@example.com`,
      name: null,
      password_hash: 'x',
      email_verified: 1,
      disabled: 0,
      tokens_valid_after: 0,
      created_at: clock.now(),
      updated_at: clock.now(),
    })
    users.push(id)
  }
  let sessions = 0
  const openSession = async (userId: string) => {
    const id = `sid-${sessions++}`
    const now = clock.now()
    await insertSession(db, {
      id,
      user_id: userId,
      client_id: 'client-0',
      scope: 'openid',
      audience: 'https://api.example.com',
      amr: '["pwd"]',
      auth_time: now,
      created_at: now,
      last_used_at: now,
      // Far beyond the test: maintenance purges a session by its expiry too.
      expires_at: now + 365 * 86_400_000,
      revoked_at: null,
      revoked_reason: null,
      ip: null,
      user_agent: null,
      dpop_jkt: null,
      signin_session_id: null,
    })
    return id
  }
  return { users, openSession }
}

for (const dialect of testDialects()) {
  t.test(`random revocations, clock moves and polls on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_ACCESS_TOKEN_TTL: '5m' } })
    const { db } = testApp.deps
    const clock = testApp.clock
    const skew = testApp.config.clockSkewMs
    const { users, openSession } = await world(testApp)
    const rnd = random(dialect === 'sqlite' ? 11 : 12)
    const live: string[] = []
    for (let i = 0; i < 40; i++) live.push(await openSession(rnd.pick(users)))
    let tokens = 0
    // A stamp a little before now: the transaction that wrote it took that long to commit.
    const stamp = () => clock.now() - (rnd.next() < 0.3 ? rnd.int(skew - 1) : 0)

    const ops: Array<[string, () => Promise<void>]> = [
      [
        'revoke a session',
        async () => {
          if (live.length === 0) return
          const sid = live.splice(rnd.int(live.length), 1)[0]!
          await revokeSession(db, sid, 'logout', stamp())
        },
      ],
      ['open a session', async () => void live.push(await openSession(rnd.pick(users)))],
      [
        'revoke an access token',
        async () => {
          const at = stamp()
          await revokeAccessToken(db, { jti: `jti-${tokens++}`, revokedAt: at, expiresAt: at + rnd.int(TTL_MS) })
        },
      ],
      [
        'cut off a user (logout-all)',
        async () => {
          const user = rnd.pick(users)
          const at = stamp()
          await revokeSessionsOfUser(db, user, 'logout_all', at)
          await cutOffUserTokens(db, user, at)
        },
      ],
      ['cut off a user alone', async () => cutOffUserTokens(db, rnd.pick(users), stamp())],
      ['cut off a client', async () => cutOffClientTokens(db, `client-${rnd.int(CLIENTS)}`, stamp())],
      ['a small clock move', async () => clock.advance(rnd.int(2 * REVOCATION_FEED_REFRESH_MS))],
      ['a clock move past the skew', async () => clock.advance(skew + rnd.int(skew))],
      ['a clock move past the lifetime', async () => clock.advance(TTL_MS + rnd.int(2 * skew))],
      ['the clock steps back', async () => clock.advance(-rnd.int(3 * REVOCATION_FEED_REFRESH_MS))],
      ['maintenance', async () => void (await runMaintenance(testApp.deps))],
      ['a longer lifetime in use', async () => stampAccessTokenLifetime(db, 2 * TTL_MS, clock.now())],
    ]
    const weights = [6, 3, 8, 2, 2, 2, 8, 2, 1, 1, 1, 0.3]
    const total = weights.reduce((a, b) => a + b, 0)
    const choose = () => {
      let r = rnd.next() * total
      for (let i = 0; i < ops.length; i++) {
        r -= weights[i]!
        if (r < 0) return ops[i]!
      }
      return ops[0]!
    }

    let served: { body: string; etag: string; readAt: number } | null = null
    let mismatches = 0
    const seen = { sessions: 0, tokens: 0, users: 0 }
    for (let step = 0; step < 400; step++) {
      const [name, op] = choose()
      await op()
      const res = await testApp.app.inject('/oauth/revocations')
      const now = clock.now()
      const refreshed = served === null || now - served.readAt >= REVOCATION_FEED_REFRESH_MS || now < served.readAt
      if (refreshed) {
        const full = await readRevocationSnapshot(testApp.deps)
        served = { body: full.json, etag: full.etag, readAt: now }
        const body = JSON.parse(full.json) as Record<string, unknown[]>
        seen.sessions = Math.max(seen.sessions, body.sessions!.length)
        seen.tokens = Math.max(seen.tokens, body.tokens!.length)
        seen.users = Math.max(seen.users, body.users!.length)
      }
      if (res.body !== served!.body || res.headers.etag !== served!.etag) {
        mismatches++
        t.equal(res.body, served!.body, `step ${step} (${name}): the body a full read gives`)
        t.equal(res.headers.etag, served!.etag, `step ${step} (${name}): its ETag`)
        if (mismatches > 3) break
      }
    }
    t.equal(mismatches, 0, 'every poll served exactly what a full read gives')
    t.comment(`largest feed: ${seen.sessions} sessions, ${seen.tokens} tokens, ${seen.users} users`)
    t.ok(seen.sessions > 5 && seen.tokens > 10 && seen.users > 3, 'the feed held entries of every kind')
  })

  t.test(`between full reads only changed rows are read on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const { db } = testApp.deps
    const clock = testApp.clock
    const skew = testApp.config.clockSkewMs
    const jtis = async () =>
      ((await testApp.app.inject('/oauth/revocations')).json() as { tokens: Array<{ jti: string }> }).tokens.map(
        (e) => e.jti,
      )
    const now = clock.now()
    await revokeAccessToken(db, { jti: 'first', revokedAt: now, expiresAt: now + 600_000 })
    t.same(await jtis(), ['first'], 'a full read to start with')
    clock.advance(REVOCATION_FEED_REFRESH_MS)
    // Stamped further back than the skew allows for: a read of changes does not reach it (this
    // shows the reads in between are incremental), the next full read does.
    const late = clock.now() - 3 * skew
    await revokeAccessToken(db, { jti: 'late', revokedAt: late, expiresAt: late + 600_000 })
    await revokeAccessToken(db, { jti: 'on-time', revokedAt: clock.now() - skew + 1, expiresAt: late + 600_000 })
    t.same(await jtis(), ['first', 'on-time'], 'a change within the skew is read, one beyond it is not')
    clock.advance(REVOCATION_FEED_FULL_READ_MS - 2 * REVOCATION_FEED_REFRESH_MS)
    t.same(await jtis(), ['first', 'on-time'], 'until the next full read')
    clock.advance(REVOCATION_FEED_REFRESH_MS)
    t.same(await jtis(), ['first', 'late', 'on-time'], 'which reads everything')
  })
}
