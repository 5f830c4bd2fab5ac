// A real `latchkey serve` on a PostgreSQL server and a Redis server of the test's own, which the
// test stops and starts under load: one instance alone, then three behind HAProxy (the cluster of
// test/helpers/cluster.ts with deploy/haproxy/haproxy.cfg). While a backing service is down every
// request that needs it answers 503 with Retry-After (never 500, never HAProxy's own bare 503),
// /healthz and the JWKS keep answering, every process stays up, and service resumes by itself when
// the service returns.
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { type ChildProcess } from 'node:child_process'
import t, { type Test } from 'tap'
import { closeAgents, defineInstance, request, startCluster, waitUntil, type HttpAnswer } from '../helpers/cluster.js'
import { freePort } from '../helpers/free-port.js'
import { ownServicesAvailable, startOwnPostgres, startOwnRedis } from '../helpers/own-services.js'
import { runLatchkey } from '../helpers/run-cli.js'
import { testDirOf, type Tap } from '../helpers/test-database.js'

/** How long each backing service stays down; OUTAGE_SECONDS=10 for the issue's long form. */
const OUTAGE_MS = Number(process.env.OUTAGE_SECONDS ?? 10) * 1000
const SESSION_COOKIE = '__Host-latchkey_session'
const TARGETS = ['one instance', 'three instances behind HAProxy'] as const

const missing = ownServicesAvailable()
if (missing) {
  t.plan(0, `needs its own PostgreSQL and Redis: ${missing}`)
} else {
  t.teardown(closeAgents)
  for (const target of TARGETS) t.test(target, (t) => runOutageTests(t, target))
}

/** Latchkey on the test's own PostgreSQL and Redis, as one instance or as the cluster; its URL and processes. */
async function startTarget(t: Tap, target: (typeof TARGETS)[number]) {
  const dir = testDirOf(t)
  const [postgres, redis] = await Promise.all([startOwnPostgres(t), startOwnRedis(t)])
  const settings = {
    // Short, so a request waiting for a connection that cannot be made gives up quickly.
    DATABASE_CONNECT_TIMEOUT: '2s',
    DATABASE_STATEMENT_TIMEOUT: '5s',
  }
  if (target === 'three instances behind HAProxy') {
    const cluster = await startCluster(t, {
      services: { databaseUrl: postgres.url, redisUrl: redis.url },
      env: settings,
    })
    return { url: cluster.url, postgres, redis, instances: cluster.instances, cli: cluster.cli }
  }
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const env = {
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url,
    LATCHKEY_KEK: randomBytes(32).toString('hex'),
    LATCHKEY_ISSUER: url,
    ...settings,
  }
  const cli = (args: string[]) => runLatchkey(args, { LATCHKEY_DATA_DIR: dir, LOG_LEVEL: 'warn', ...env })
  const migrated = await cli(['migrate'])
  if (migrated.code !== 0) throw new Error(`migrate: ${migrated.stderr}`)
  const children = new Set<ChildProcess>()
  t.teardown(() => {
    for (const child of children) child.kill('SIGKILL')
  })
  const instance = defineInstance({ name: 'latchkey', port, dataDir: path.join(dir, 'instance'), env, children })
  await instance.restart()
  return { url, postgres, redis, instances: [instance], cli }
}

async function runOutageTests(t: Test, target: (typeof TARGETS)[number]): Promise<void> {
  const { url, postgres, redis, instances, cli } = await startTarget(t, target)
  const created = await cli(['clients', 'create', '--name', 'load', '--grant', 'client_credentials', '--json'])
  if (created.code !== 0) throw new Error(`clients create: ${created.stderr}`)
  const client = JSON.parse(created.stdout) as { client_id: string; client_secret: string }
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`
  const allRunning = () => instances.every((instance) => instance.running())

  // Each simulated client has a loopback address of its own, so per-IP limits do not interfere.
  let addresses = 0
  const nextAddress = () => {
    addresses++
    return `127.0.${Math.floor(addresses / 250) + 10}.${(addresses % 250) + 1}`
  }
  const json = { 'content-type': 'application/json' }
  const password = 'correct horse battery staple'
  const email = 'outage@example.com'
  const registered = await request(`${url}/auth/register`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ email, password }),
  })
  if (registered.status !== 202) throw new Error(`register: ${registered.status} ${registered.body}`)

  const endpoints = {
    login: () =>
      request(`${url}/auth/login`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ email, password }),
        from: nextAddress(),
      }),
    token: () =>
      request(`${url}/oauth/token`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
        from: nextAddress(),
      }),
    refresh: (refreshToken: string) =>
      request(`${url}/auth/refresh`, {
        method: 'POST',
        headers: { cookie: `${SESSION_COOKIE}=${refreshToken}`, origin: url, 'x-requested-with': 'latchkey' },
        from: nextAddress(),
      }),
    jwks: () => request(`${url}/.well-known/jwks.json`),
    healthz: () => request(`${url}/healthz`),
    /** A hosted page that reads the database: the emailed verification link (here an unknown token). */
    page: () => request(`${url}/verify-email?token=${'a'.repeat(43)}`),
    readyz: () => request(`${url}/readyz`),
  }

  const signIn = async (): Promise<string> => {
    const login = await endpoints.login()
    if (login.status !== 200) throw new Error(`login: ${login.status} ${login.body}`)
    return sessionCookieOf(login)!
  }

  /** What is wrong with a refusal while a backing service is down: it must be a 503 that says when to retry. */
  const unavailableProblems = (answer: HttpAnswer, what: string): string[] => {
    const problems: string[] = []
    if (answer.status !== 503) problems.push(`${what}: status ${answer.status}`)
    if (!/^\d+$/.test(String(answer.headers['retry-after']))) problems.push(`${what}: no Retry-After`)
    if (answer.headers['cache-control'] !== 'no-store') problems.push(`${what}: cacheable`)
    const body = JSON.parse(answer.body) as Record<string, unknown>
    if (body.error !== 'temporarily_unavailable' || typeof body.error_description !== 'string')
      problems.push(`${what}: body ${answer.body}`)
    return problems
  }

  t.test(
    'Redis stopped: logins answer 503 with Retry-After, tokens and the JWKS keep working, and it recovers',
    async (t) => {
      t.equal((await endpoints.login()).status, 200, 'login works before the outage')
      await redis.stop()
      const seen = new Map<string, Set<number>>()
      const note = (what: string, answer: HttpAnswer) => {
        const statuses = seen.get(what) ?? new Set()
        statuses.add(answer.status)
        seen.set(what, statuses)
      }
      const until = Date.now() + OUTAGE_MS
      const problems: string[] = []
      let rounds = 0
      while (Date.now() < until) {
        rounds++
        const [login, token, jwks, healthz, readyz] = await Promise.all([
          endpoints.login(),
          endpoints.token(),
          endpoints.jwks(),
          endpoints.healthz(),
          endpoints.readyz(),
        ])
        note('login', login)
        note('token', token)
        note('jwks', jwks)
        note('healthz', healthz)
        note('readyz', readyz)
        problems.push(...unavailableProblems(login, 'login without Redis'))
        if (rounds === 1)
          t.same(JSON.parse(readyz.body), {
            status: 'not ready',
            checks: { database: 'ok', keys: 'ok', redis: 'unavailable' },
          })
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
      t.same(Object.fromEntries([...seen].map(([k, v]) => [k, [...v]])), {
        login: [503],
        token: [200],
        jwks: [200],
        healthz: [200],
        readyz: [503],
      })
      t.same(problems, [], 'every login was refused with 503, Retry-After and the error shape')
      t.ok(rounds >= 3, `${rounds} rounds of requests while Redis was down`)
      t.ok(allRunning(), 'every process is still up')

      await redis.start()
      await waitUntil(
        'login works again after Redis returned',
        15_000,
        async () => (await endpoints.login()).status === 200,
      )
      t.equal((await endpoints.readyz()).status, 200, 'ready again')
    },
  )

  t.test(
    'PostgreSQL stopped mid-load: 503 with Retry-After while down, /healthz and the JWKS answer, and it resumes',
    async (t) => {
      // Load from several workers, each with a session of its own whose refresh token it rotates.
      const counts: Record<string, Record<number, number>> = {}
      const unavailable: { what: string; answer: HttpAnswer }[] = []
      const count = (what: string, answer: HttpAnswer) => {
        counts[what] ??= {}
        counts[what][answer.status] = (counts[what][answer.status] ?? 0) + 1
        if (answer.status === 503) unavailable.push({ what, answer })
      }
      const phase = { stopped: false }
      // One after another: sign-ins of one account share the hashing queue (at most 2 places each, M2).
      const sessions: string[] = []
      for (let i = 0; i < 4; i++) sessions.push(await signIn())
      const probeSession = await signIn()
      const worker = async (i: number) => {
        let refreshToken = sessions[i]!
        for (let n = 0; !phase.stopped; n++) {
          const kind = n % 4
          if (kind === 0) {
            const answer = await endpoints.refresh(refreshToken)
            count('refresh', answer)
            refreshToken = sessionCookieOf(answer) ?? refreshToken
          } else if (kind === 1) count('login', await endpoints.login())
          else if (kind === 2) count('token', await endpoints.token())
          else count('jwks', await endpoints.jwks())
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      }
      const load = Promise.all(sessions.map((_, i) => worker(i)))

      await new Promise((resolve) => setTimeout(resolve, 1_000))
      t.equal((await endpoints.page()).status, 400, 'the page answers (an unknown link) before the outage')
      await postgres.stop()
      const downSince = Date.now()
      // While down: the endpoints that need the database refuse, the others answer.
      const during: Record<string, number[]> = { login: [], refresh: [], healthz: [], jwks: [], readyz: [], page: [] }
      let pageWhileDown: HttpAnswer | undefined
      const problems: string[] = []
      while (Date.now() - downSince < OUTAGE_MS) {
        const [login, refresh, healthz, jwks, readyz, page] = await Promise.all([
          endpoints.login(),
          endpoints.refresh(probeSession),
          endpoints.healthz(),
          endpoints.jwks(),
          endpoints.readyz(),
          endpoints.page(),
        ])
        pageWhileDown = page
        for (const [what, answer] of Object.entries({ login, refresh, healthz, jwks, readyz, page })) {
          if (!during[what]!.includes(answer.status)) during[what]!.push(answer.status)
        }
        problems.push(...unavailableProblems(login, 'login'), ...unavailableProblems(refresh, 'refresh'))
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
      t.same(during, { login: [503], refresh: [503], healthz: [200], jwks: [200], readyz: [503], page: [503] })
      t.match(
        pageWhileDown?.headers,
        { 'retry-after': /^\d+$/, 'content-type': /^text\/html/ },
        'the page says when to retry',
      )
      t.same(problems, [], 'every login and refresh while down was a 503 with Retry-After and the error shape')
      t.ok(allRunning(), 'every process is still up')

      await postgres.start()
      await waitUntil('login and refresh work again after PostgreSQL returned', 30_000, async () => {
        const login = await endpoints.login()
        if (login.status !== 200) return false
        return (await endpoints.refresh(sessionCookieOf(login)!)).status === 200
      })
      phase.stopped = true
      await load

      t.same(
        Object.entries(counts).flatMap(([what, statuses]) =>
          Object.keys(statuses)
            .filter((status) => !['200', '503'].includes(status))
            .map((status) => `${what} ${status}`),
        ),
        [],
        'under load every answer was 200 or 503',
      )
      t.same(
        unavailable.flatMap(({ what, answer }) => unavailableProblems(answer, what)),
        [],
        `all ${unavailable.length} 503s under load carried Retry-After and the error shape`,
      )
      t.ok(unavailable.length > 0, 'the load did meet the outage')
      t.equal(counts.jwks?.[503], undefined, 'the JWKS never failed')
      t.ok(allRunning(), 'every process is still up after the outage')
      t.same(
        instances
          .flatMap((instance) => instance.logs())
          .filter((line) => line.msg === 'unhandled error' || line.level === 60),
        [],
        'no unhandled error and nothing fatal was logged',
      )
      t.comment(`under load: ${JSON.stringify(counts)}`)
    },
  )
}

function sessionCookieOf(answer: HttpAnswer): string | null {
  for (const cookie of answer.headers['set-cookie'] ?? []) {
    const match = new RegExp(`^${SESSION_COOKIE}=([^;]*)`).exec(cookie)
    if (match && match[1]) return match[1]
  }
  return null
}
