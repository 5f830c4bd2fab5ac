// Three `latchkey serve` processes on one PostgreSQL database and one Redis behind HAProxy
// (deploy/haproxy/haproxy.cfg): everything here is real HTTP through the proxy, or straight to
// one instance where the property is about instances disagreeing.
import { createHash } from 'node:crypto'
import t from 'tap'
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose'
import pg from 'pg'
import { createVerifier, isVerifierError } from '@latchkey/verifier'
import { KEPT_USED_REFRESH_TOKENS } from '../../server/sessions/rotate-refresh-token.js'
import { closeAgents, clusterAvailable, request, startCluster, waitUntil, type HttpAnswer } from '../helpers/cluster.js'

/** Short, so the "after the grace window" replay costs seconds; long enough for a retry after a kill. */
const REUSE_GRACE_S = 3
const ROTATION_INTERVAL_MS = 10 * 60_000
const AUDIENCE = 'https://api.example.com'
const SESSION_COOKIE = '__Host-latchkey_session'

if (!clusterAvailable()) {
  t.plan(0, 'the cluster needs PostgreSQL: set TEST_DATABASE_URL (.ci/run does)')
} else {
  t.teardown(closeAgents)
  await runClusterTests()
}

async function runClusterTests(): Promise<void> {
  const cluster = await startCluster(t, {
    env: {
      LATCHKEY_REFRESH_REUSE_GRACE: `${REUSE_GRACE_S}s`,
      LATCHKEY_KEY_ROTATION_INTERVAL: '10m',
      // The kill test's 4 token loops on one client can pass the per-client budget (6,000 a minute)
      // on a fast host; the per-IP and per-account limits this file tests stay on.
      LATCHKEY_TOKEN_RATE_LIMIT: '0',
    },
  })
  const db = new pg.Client({ connectionString: cluster.database.url })
  await db.connect()
  t.teardown(() => db.end())

  const created = await cluster.cli([
    'clients',
    'create',
    '--name',
    'load',
    '--grant',
    'client_credentials',
    '--scope',
    'reports:read',
    '--audience',
    AUDIENCE,
    '--json',
  ])
  if (created.code !== 0) throw new Error(`clients create: ${created.stderr}`)
  const client = JSON.parse(created.stdout) as { client_id: string; client_secret: string }
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`

  const clientToken = (base: string, from?: string) =>
    request(`${base}/oauth/token`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
      from,
    })

  /** Registers a user and signs in through HAProxy from the client address `from`. */
  let users = 0
  const signIn = async (from: string, headers: Record<string, string> = {}) => {
    const email = `user${++users}@example.com`
    const password = `correct horse battery ${users}`
    const json = { 'content-type': 'application/json', ...headers }
    const registered = await request(`${cluster.url}/auth/register`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ email, password }),
      from,
    })
    if (registered.status !== 202) throw new Error(`register: ${registered.status} ${registered.body}`)
    const login = await request(`${cluster.url}/auth/login`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ email, password }),
      from,
    })
    if (login.status !== 200) throw new Error(`login: ${login.status} ${login.body}`)
    const accessToken = (JSON.parse(login.body) as { access_token: string }).access_token
    return {
      email,
      password,
      refreshToken: sessionCookieOf(login)!,
      accessToken,
      sid: decodeJwt(accessToken).sid as string,
    }
  }

  /** POST /auth/refresh with a refresh token, as the first-party app does (cookie, Origin, header). */
  const refresh = (base: string, refreshToken: string, from: string) =>
    request(`${base}/auth/refresh`, {
      method: 'POST',
      headers: {
        cookie: `${SESSION_COOKIE}=${refreshToken}`,
        origin: cluster.issuer,
        'x-requested-with': 'latchkey',
      },
      from,
    })

  t.test('round-robin: requests through HAProxy reach all three instances', async (t) => {
    const before = await cluster.stats()
    const statuses: number[] = []
    for (let i = 0; i < 30; i++) statuses.push((await clientToken(cluster.url)).status)
    t.same(
      statuses.filter((s) => s !== 200),
      [],
      'every request answered 200',
    )
    const after = await cluster.stats()
    for (const { name } of cluster.instances) {
      const served = after[name]!.total - before[name]!.total
      t.ok(served >= 8 && served <= 12, `${name} served ${served} of 30`)
    }
  })

  t.test("the client's own address crosses HAProxy, and a forged X-Forwarded-For does not", async (t) => {
    const from = '127.0.4.1'
    // The client claims another address; HAProxy appends the one it saw, and only that is believed.
    const { sid } = await signIn(from, { 'x-forwarded-for': '203.0.113.9' })
    const { rows } = await db.query<{ ip: string }>('select ip from sessions where id = $1', [sid])
    t.same(rows, [{ ip: from }], 'the session records the address HAProxy saw')
  })

  t.test('keys rotate exactly once across the cluster under load, and every token verifies everywhere', async (t) => {
    const keysBefore = await signingKeys(db)
    const active = keysBefore.find((k) => k.state === 'active')!
    const next = keysBefore.find((k) => k.state === 'next')!
    t.equal(keysBefore.length, 2, 'one active and one next key')

    const load = startLoad(async () => {
      const answer = await clientToken(cluster.url)
      if (answer.status !== 200) throw new Error(`token: ${answer.status}`)
      return (JSON.parse(answer.body) as { access_token: string }).access_token
    }, 4)
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    // The rotation interval (10 min, the shortest allowed) has passed: the instances' clocks
    // cannot be moved, so the keys' dates are moved back by it instead. Each instance's next
    // lifecycle tick (every 5 s) now finds the rotation due, and all three race to perform it.
    const logMarks = cluster.instances.map((instance) => instance.logs().length)
    const backdate = ROTATION_INTERVAL_MS + 60_000
    await db.query('update signing_keys set activated_at = activated_at - $1 where kid = $2', [backdate, active.kid])
    await db.query('update signing_keys set created_at = created_at - $1 where kid = $2', [backdate, next.kid])
    await waitUntil('every instance signs with the new key', 20_000, async () => {
      const kids = await Promise.all(
        cluster.instances.map(async (instance) => decodeProtectedHeader(await tokenFrom(instance.url)).kid),
      )
      return kids.every((kid) => kid === next.kid)
    })
    await new Promise((resolve) => setTimeout(resolve, 500))
    const { results: tokens, failures } = await load.stop()
    t.same(failures, [], 'no request failed during the rotation')

    const keysAfter = await signingKeys(db)
    t.equal(keysAfter.length, 3, 'exactly one key was created')
    const stateOf = (kid: string) => keysAfter.find((k) => k.kid === kid)?.state
    t.same(
      { old: stateOf(active.kid), next: stateOf(next.kid) },
      { old: 'retired', next: 'active' },
      'the old key retired and the next one took over',
    )
    t.equal(keysAfter.filter((k) => k.state === 'next').length, 1, 'one new next key')
    const events = cluster.instances.flatMap((instance, i) => instance.logs().slice(logMarks[i]))
    t.equal(events.filter((e) => e.event === 'key.activated').length, 1, 'activated once across the cluster')
    t.equal(events.filter((e) => e.event === 'key.retired').length, 1, 'retired once across the cluster')

    const kids = new Set(tokens.map((token) => decodeProtectedHeader(token).kid))
    t.ok(kids.has(active.kid) && kids.has(next.kid), `the load got tokens from both keys (${tokens.length} tokens)`)
    for (const instance of cluster.instances) {
      const jwks = (await (await fetch(`${instance.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet
      const keySet = createLocalJWKSet(jwks)
      let verified = 0
      for (const token of tokens) {
        await jwtVerify(token, keySet, { issuer: cluster.issuer, audience: AUDIENCE, typ: 'at+jwt' })
        verified++
      }
      t.equal(verified, tokens.length, `all ${tokens.length} tokens verify against ${instance.name}'s JWKS`)
    }
  })

  t.test('refresh reuse is detected across instances', async (t) => {
    const [one, two, three] = cluster.instances
    const from = '127.0.5.1'
    const { refreshToken: first, sid } = await signIn(from)

    const rotated = await refresh(one!.url, first, from)
    t.equal(rotated.status, 200, `rotated via ${one!.name}`)
    const successor = sessionCookieOf(rotated)
    t.ok(successor && successor !== first)

    const retried = await refresh(two!.url, first, from)
    t.equal(retried.status, 200, `replayed via ${two!.name} within the grace window`)
    t.equal(sessionCookieOf(retried), successor, 'the same successor, not a second one')

    await new Promise((resolve) => setTimeout(resolve, REUSE_GRACE_S * 1000 + 500))
    const replayed = await refresh(three!.url, first, from)
    t.equal(replayed.status, 401, `replayed via ${three!.name} after the grace window`)
    t.same(JSON.parse(replayed.body), {
      error: 'invalid_session',
      error_description: 'there is no valid session; sign in again',
    })
    const afterReuse = await refresh(one!.url, successor!, from)
    t.equal(afterReuse.status, 401, 'the successor died with its family')
    const { rows } = await db.query<{ revoked_at: string | null }>('select revoked_at from sessions where id = $1', [
      sid,
    ])
    t.ok(rows[0]?.revoked_at !== null, 'the family (session) is revoked in the database')
  })

  t.test('per-IP and per-account limits hold across the cluster as one', async (t) => {
    const before = await cluster.stats()
    const login = (email: string, password: string, from: string) =>
      request(`${cluster.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
        from,
      })
    // Per address: 10 sign-in attempts a minute (each for another unknown account, so no back-off
    // applies). Counted per instance, 12 attempts spread over three would never reach it.
    const perAddress: number[] = []
    for (let i = 0; i < 12; i++)
      perAddress.push((await login(`nobody${i}@example.com`, 'wrong password', '127.0.8.1')).status)
    t.same(perAddress, [...Array<number>(10).fill(401), 429, 429], 'the eleventh attempt from one address is refused')

    // Per account: five failures from five addresses, wherever HAProxy sends them; then even the
    // right password waits, on whichever instance it lands.
    const { email, password } = await signIn('127.0.8.2')
    const failures: number[] = []
    for (let i = 0; i < 5; i++) failures.push((await login(email, 'wrong password', `127.0.8.${10 + i}`)).status)
    t.same(failures, [401, 401, 401, 401, 401])
    const held = await login(email, password, '127.0.8.20')
    t.equal(held.status, 429, held.body)
    t.match(held.headers, { 'retry-after': /^\d+$/ })

    const after = await cluster.stats()
    t.ok(
      cluster.instances.every((i) => after[i.name]!.total - before[i.name]!.total >= 3),
      'the attempts were spread over every instance',
    )
  })

  t.test("a logout through one instance shows up in every instance's revocation feed", async (t) => {
    const from = '127.0.6.1'
    const { refreshToken, sid, accessToken } = await signIn(from)
    // A resource service's verifier polls the feed through HAProxy, as deployed.
    const pollMs = 500
    const verifier = createVerifier({
      issuer: cluster.issuer,
      audience: cluster.issuer,
      revocationPollIntervalMs: pollMs,
    })
    t.teardown(() => verifier.close())
    t.match(await verifier.verify(accessToken), { sid }, 'the verifier accepts the token before the logout')
    const logout = await request(`${cluster.instances[0]!.url}/auth/logout`, {
      method: 'POST',
      headers: {
        cookie: `${SESSION_COOKIE}=${refreshToken}`,
        origin: cluster.issuer,
        'x-requested-with': 'latchkey',
      },
      from,
    })
    t.equal(logout.status, 204)
    for (const instance of cluster.instances) {
      await waitUntil(`${instance.name} lists the session`, 15_000, async () => {
        const feed = (await (await fetch(`${instance.url}/oauth/revocations`)).json()) as {
          sessions: { sid: string }[]
        }
        return feed.sessions.some((s) => s.sid === sid)
      })
      t.pass(`${instance.name}'s feed lists the session`)
    }
    // Every instance lists it now, so the verifier's next poll (whichever instance answers) brings it.
    await new Promise((resolve) => setTimeout(resolve, pollMs + 250))
    const refused = await verifier.verify(accessToken).then(
      () => 'accepted',
      (error: unknown) => (isVerifierError(error) ? error.code : String(error)),
    )
    t.equal(refused, 'token_revoked', 'the verifier refuses the token within one poll')
  })

  t.test('kill -9 of one instance under load: HAProxy takes it out, no refresh family is lost or forked', async (t) => {
    const victim = cluster.instances[1]!
    const chains = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const from = `127.0.7.${i + 1}`
        const { refreshToken, sid } = await signIn(from)
        return { from, sid, token: refreshToken, rotations: 0, retries: 0, lost: null as string | null }
      }),
    )
    const killAt = { time: 0 }
    const failures: { at: number; what: string }[] = []
    const deadline = Date.now() + 6_000

    // Each chain refreshes in a loop (paced under the per-address limit); a failed request is
    // retried with the token it holds, which the grace window answers with the same successor
    // if the lost request had rotated it.
    const chainLoops = chains.map(async (chain) => {
      while (Date.now() < deadline && chain.lost === null) {
        let answer: HttpAnswer | null = null
        try {
          answer = await refresh(cluster.url, chain.token, chain.from)
        } catch (error) {
          failures.push({ at: Date.now(), what: `refresh: ${(error as Error).message}` })
        }
        if (answer?.status === 200) {
          chain.token = sessionCookieOf(answer)!
          chain.rotations++
        } else if (answer?.status === 401) {
          chain.lost = answer.body
        } else {
          if (answer) failures.push({ at: Date.now(), what: `refresh: ${answer.status} ${answer.body}` })
          chain.retries++
          await new Promise((resolve) => setTimeout(resolve, 50))
          continue
        }
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
    })
    const tokenLoops = Array.from({ length: 4 }, async () => {
      let ok = 0
      while (Date.now() < deadline) {
        try {
          const answer = await clientToken(cluster.url)
          if (answer.status === 200) ok++
          else failures.push({ at: Date.now(), what: `token: ${answer.status} ${answer.body}` })
        } catch (error) {
          failures.push({ at: Date.now(), what: `token: ${(error as Error).message}` })
        }
      }
      return ok
    })
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    killAt.time = Date.now()
    await victim.kill9()
    const tokensOk = (await Promise.all([...tokenLoops, ...chainLoops]))
      .filter((n) => typeof n === 'number')
      .reduce((a, b) => a + b, 0)

    t.comment(
      `${failures.length} failed requests (of ${tokensOk} token and ${chains.reduce((n, c) => n + c.rotations, 0)} refresh successes): ${JSON.stringify(failures.map((f) => ({ after_kill_ms: f.at - killAt.time, what: f.what })))}`,
    )
    t.ok(failures.length <= 10, 'at most the requests in flight at the kill failed (10 clients)')
    t.same(
      failures.filter((f) => f.at - killAt.time > 3_000),
      [],
      'nothing failed later than 3 s after the kill',
    )
    await cluster.waitForStatus([victim.name], 'DOWN', 5_000)
    t.pass(`HAProxy reports ${victim.name} DOWN`)

    t.same(
      chains.filter((c) => c.lost !== null).map((c) => c.lost),
      [],
      'no chain was refused',
    )
    for (const chain of chains) {
      const { rows } = await db.query<{
        token_hash: string
        used_at: string | null
        successor_id: string | null
        id: string
      }>('select id, token_hash, used_at, successor_id from refresh_tokens where session_id = $1', [chain.sid])
      const live = rows.filter((r) => r.used_at === null)
      t.same(
        live.map((r) => r.token_hash),
        [hash(chain.token)],
        `${chain.sid}: exactly one live token, the one the client holds`,
      )
      const successors = rows.filter((r) => r.successor_id !== null).map((r) => r.successor_id)
      t.equal(new Set(successors).size, successors.length, 'no token has two successors')
      // A session keeps its last KEPT_USED_REFRESH_TOKENS used tokens besides the one just presented
      // and its successor (issue 11, L2): up to that, one row per rotation, none issued twice.
      t.equal(
        rows.length,
        Math.min(chain.rotations + 1, KEPT_USED_REFRESH_TOKENS + 2),
        'one token per rotation the client saw (as far as kept), none issued twice',
      )
      const session = await db.query<{ revoked_at: string | null }>('select revoked_at from sessions where id = $1', [
        chain.sid,
      ])
      t.equal(session.rows[0]?.revoked_at, null, 'the family is alive')
    }
  })

  t.test('the restarted instance rejoins', async (t) => {
    const victim = cluster.instances[1]!
    await victim.restart()
    await cluster.waitForStatus([victim.name], 'UP', 15_000)
    const before = await cluster.stats()
    const statuses: number[] = []
    for (let i = 0; i < 12; i++) statuses.push((await clientToken(cluster.url)).status)
    t.same(
      statuses.filter((s) => s !== 200),
      [],
      'every request answered 200',
    )
    const after = await cluster.stats()
    t.ok(after[victim.name]!.total - before[victim.name]!.total >= 3, `${victim.name} serves again`)
  })

  /** A client_credentials token straight from one instance. */
  async function tokenFrom(base: string): Promise<string> {
    const answer = await clientToken(base)
    if (answer.status !== 200) throw new Error(`token from ${base}: ${answer.status}`)
    return (JSON.parse(answer.body) as { access_token: string }).access_token
  }
}

function sessionCookieOf(answer: HttpAnswer): string | null {
  const cookies = answer.headers['set-cookie'] ?? []
  for (const cookie of cookies) {
    const match = new RegExp(`^${SESSION_COOKIE}=([^;]*)`).exec(cookie)
    if (match && match[1]) return match[1]
  }
  return null
}

function hash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url')
}

async function signingKeys(db: pg.Client): Promise<{ kid: string; state: string }[]> {
  const { rows } = await db.query<{ kid: string; state: string }>(
    "select kid, state from signing_keys where state <> 'removed' order by kid",
  )
  return rows
}

/** Runs `task` in `concurrency` loops until stopped; collects results and failures. */
function startLoad<T>(task: () => Promise<T>, concurrency: number) {
  let running = true
  const results: T[] = []
  const failures: string[] = []
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      try {
        results.push(await task())
      } catch (error) {
        failures.push((error as Error).message)
      }
    }
  })
  return {
    async stop() {
      running = false
      await Promise.all(loops)
      return { results, failures }
    },
  }
}
