// Capacity of the cluster (issue 14). See bench/README.md.
//
// The cluster of the tests (test/helpers/cluster.ts): Latchkey processes on one PostgreSQL
// database (a fresh one on TEST_DATABASE_URL's server) and one Redis, behind HAProxy started with
// deploy/haproxy/haproxy.cfg. For each cluster size in BENCH_INSTANCES (1, 2, 3):
//   1. BENCH_CONNECTIONS keep-alive connections (default 10,000) are opened through HAProxy and
//      held for the whole phase. The file descriptors each process needs are computed first (see
//      fileBudget) and the bench stops if the limit cannot hold them;
//   2. BENCH_RATE requests per second (default 300) are offered across them, the same for every
//      size, in a fixed mix: client_credentials 60 %, refresh 25 %, JWKS 10 %, login 5 %. Each
//      connection sends on its own schedule and never has two requests in flight, so when the
//      cluster falls behind, requests queue on their connection and their latency shows it;
//   3. per endpoint: throughput, p50/p99, statuses and errors; per process (each instance,
//      HAProxy, this load generator): CPU in cores, RSS and the most file descriptors held; the
//      CPU used by everything else, and CPU pressure (PSI: the share of the phase during which a
//      runnable task waited for a core).
// The bar: p99 ≤ 100 ms for token and refresh at the offered rate, and no errors.
// Rate limits are off (LATCHKEY_RATE_LIMITS=false, the /oauth/token budgets included): every
// connection comes from 127.0.0.1.
import fs from 'node:fs'
import http from 'node:http'
import type { Socket } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { closeAgents, HAPROXY_CONFIG, request, startCluster, type Cluster } from '../test/helpers/cluster.js'
import type { Tap } from '../test/helpers/test-database.js'
import { BenchError } from './lib/bench-error.js'
import { basicAuthorization } from './lib/client-credentials.js'
import { clockTicksPerSecond, cpuSnapshot, mainThreadTicks, otherCpu, processTicks } from './lib/cpu-accounting.js'
import { cpuPressureSince, pressureSnapshot, type CpuPressure } from './lib/cpu-pressure.js'
import { fileLimitOfThisProcess, openFilesOf, raiseFileLimit } from './lib/file-descriptors.js'
import { memoryOf } from './lib/process-memory.js'
import { fixed, printBars, printTable, type Bar } from './lib/report.js'
import { runFacts, writeResults } from './lib/results-file.js'
import { runBench } from './lib/run-bench.js'
import type { BenchSettings } from './lib/settings.js'

const SESSION_COOKIE = '__Host-latchkey_session'
const PASSWORD = 'a benchmark passphrase 2026'
const USERS = 20
const SESSIONS = 40
const P99_BAR_MS = 100

type Endpoint = 'token' | 'refresh' | 'jwks' | 'login'
const endpoints: Endpoint[] = ['token', 'refresh', 'jwks', 'login']
/** 20 requests in the issue's proportions (12 token, 5 refresh, 2 JWKS, 1 login). */
const MIX: Endpoint[] = (
  'token refresh token jwks token refresh token token login refresh ' +
  'token jwks token refresh token token refresh token token token'
).split(' ') as Endpoint[]

interface EndpointResult {
  requests: number
  perSecond: number
  p50Ms: number | null
  p99Ms: number | null
  maxMs: number | null
  statuses: Record<string, number>
  errors: number
}

interface ProcessUse {
  name: string
  cpuCores: number | null
  /** Of cpuCores, what the main thread used (node: the event loop); the rest is other threads. */
  mainThreadCpuCores: number | null
  rssMiB: number | null
  /** The most file descriptors it held at once during the phase (sampled every second). */
  maxOpenFiles: number | null
}

interface PhaseResult {
  instances: number
  connections: { asked: number; opened: number; openAtEnd: number; openSeconds: number }
  offeredPerSecond: number
  achievedPerSecond: number
  endpoints: Record<Endpoint, EndpointResult>
  processes: ProcessUse[]
  otherProcessesCpuCores: number | null
  cpuPressure: CpuPressure
  /** Refreshes not sent because every session was in a rotation in flight (in refresh errors). */
  refreshesWithoutFreeSession: number
}

/** HAProxy's client connections beyond the held ones: health checks of this bench, stats reads. */
const LB_SPARE_CONNECTIONS = 1_000
/** Descriptors a process holds besides connections: stdio, epoll, pipes, libuv, pools, logs. */
const PROCESS_OVERHEAD_FDS = 256

/**
 * The file descriptors each process needs, from haproxy.cfg itself. HAProxy: one per client
 * connection it accepts (its maxconn), at most `maxconn` per server line on the server side
 * (default-server maxconn; further requests queue), one per health check, its listeners, and
 * overhead. The load generator: one per held connection. An instance: the server-side
 * connections of its two server lines (checked, and the shared-outage backup), its database pool,
 * Redis, overhead.
 */
function fileBudget(connections: number) {
  const config = fs
    .readFileSync(HAPROXY_CONFIG, 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
  const serverMaxconn = Number(/\bmaxconn (\d+)/.exec(config.find((l) => l.startsWith('default-server ')) ?? '')?.[1])
  if (!Number.isInteger(serverMaxconn))
    throw new BenchError(`${HAPROXY_CONFIG}: default-server has no maxconn, so HAProxy's server side is unbounded`)
  const servers = config.filter((line) => line.startsWith('server ')).length
  const listeners = config.filter((line) => line.startsWith('bind ')).length
  const lbMaxconn = connections + LB_SPARE_CONNECTIONS
  return {
    lbMaxconn,
    serverMaxconn,
    haproxy: lbMaxconn + servers * serverMaxconn + servers + listeners + PROCESS_OVERHEAD_FDS,
    loadGenerator: connections + PROCESS_OVERHEAD_FDS,
    instance: 2 * serverMaxconn + PROCESS_OVERHEAD_FDS,
    /** What HAProxy's strict-limits would ask for: 2 x maxconn + listeners + checks. */
    haproxyOwnEstimate: 2 * lbMaxconn + listeners + servers,
  }
}

await runBench({ defaults: { connections: 10_000, durationSeconds: 30, warmupSeconds: 5 } }, async (settings) => {
  if (!process.env.TEST_DATABASE_URL)
    throw new BenchError('bench:cluster needs a PostgreSQL server: set TEST_DATABASE_URL=postgres://…')
  const budget = fileBudget(settings.connections)
  const limit = fileLimitOfThisProcess()
  console.log(
    `file descriptors per process: HAProxy ${fixed(budget.haproxy)} (its own 2 x maxconn estimate: ${fixed(budget.haproxyOwnEstimate)}), ` +
      `load generator ${fixed(budget.loadGenerator)}, each instance ${fixed(budget.instance)}; ` +
      `limit ${limit ? `${fixed(limit.soft)} (hard ${fixed(limit.hard)})` : 'unknown'}`,
  )
  // Every process inherits this one's limit; HAProxy then lowers its own to its budget (ulimit-n).
  raiseFileLimit(
    Math.max(budget.haproxy, budget.loadGenerator, budget.instance),
    `holding ${fixed(settings.connections)} connections through HAProxy`,
  )
  const sizes = settings.instanceCounts.split(',').map(Number)
  const phases: PhaseResult[] = []
  for (const size of sizes) {
    console.log(
      `\n${size} instance(s): ${fixed(settings.connections)} connections, ${settings.offeredRate} req/s offered`,
    )
    phases.push(await measureCluster(settings, size, budget))
  }
  report(phases)
  const file = await writeResults('cluster-results.json', {
    ...runFacts(),
    settings: {
      connections: settings.connections,
      offeredRate: settings.offeredRate,
      durationSeconds: settings.durationSeconds,
      warmupSeconds: settings.warmupSeconds,
    },
    mix: { token: 0.6, refresh: 0.25, jwks: 0.1, login: 0.05 },
    phases,
  })
  console.log(`results: ${path.relative(process.cwd(), file)}`)
})

/** The cluster helper takes a tap test for its directory and teardown; the bench gives it both. */
function benchScope(): { tap: Tap; close: () => Promise<void> } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-bench-cluster-'))
  const teardowns: (() => unknown)[] = []
  return {
    tap: { testdir: () => dir, teardown: (fn) => void teardowns.push(fn) },
    async close() {
      for (const fn of teardowns.reverse()) await Promise.resolve(fn()).catch(() => {})
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function measureCluster(
  settings: BenchSettings,
  size: number,
  budget: ReturnType<typeof fileBudget>,
): Promise<PhaseResult> {
  const scope = benchScope()
  try {
    const cluster = await startCluster(scope.tap, {
      running: size,
      env: { LOG_LEVEL: 'warn', LATCHKEY_RATE_LIMITS: 'false' },
      // Idle connections must outlive the gap between two requests on one connection.
      haproxy: { maxConnections: budget.lbMaxconn, keepAliveTimeout: '300s', fileLimit: budget.haproxy },
      nodeArgs: settings.serverNodeArgs.split(' ').filter(Boolean),
    })
    const world = await prepareWorld(cluster)
    const load = createLoad(cluster, world, settings)
    const opening = performance.now()
    await load.open()
    const openSeconds = (performance.now() - opening) / 1000
    console.log(`  ${fixed(settings.connections)} connections open in ${fixed(openSeconds, 1)} s`)

    await load.run(settings.warmupSeconds)
    load.reset()
    const names = [...cluster.instances.map((i) => i.name), 'haproxy', 'load generator (this process)']
    const pids = [...cluster.instances.map((i) => i.pid()), cluster.haproxyPid(), process.pid]
    const ticksOf = () =>
      Promise.all(
        pids.map(async (pid) =>
          pid === null ? null : { all: await processTicks(pid), main: await mainThreadTicks(pid) },
        ),
      )
    const ticksBefore = await ticksOf()
    const machineBefore = await cpuSnapshot(pids.filter((pid): pid is number => pid !== null && pid !== process.pid))
    const pressureBefore = await pressureSnapshot()
    const maxOpenFiles = pids.map(() => null as number | null)
    const sampleOpenFiles = () =>
      pids.forEach((pid, i) => {
        const open = pid === null ? null : openFilesOf(pid)
        if (open !== null) maxOpenFiles[i] = Math.max(maxOpenFiles[i] ?? 0, open)
      })
    sampleOpenFiles()
    const sampler = setInterval(sampleOpenFiles, 1_000)
    const started = performance.now()
    await load.run(settings.durationSeconds).finally(() => clearInterval(sampler))
    const elapsed = (performance.now() - started) / 1000
    sampleOpenFiles()
    const cpuPressure = await cpuPressureSince(pressureBefore)
    const machineAfter = await cpuSnapshot(pids.filter((pid): pid is number => pid !== null && pid !== process.pid))
    const ticksAfter = await ticksOf()
    const processes: ProcessUse[] = await Promise.all(
      pids.map(async (pid, i) => {
        const [before, after] = [ticksBefore[i], ticksAfter[i]]
        const cores = (from: number | null | undefined, to: number | null | undefined) =>
          from === null || from === undefined || to === null || to === undefined
            ? null
            : round((to - from) / clockTicksPerSecond / elapsed)
        const cpuCores = cores(before?.all, after?.all)
        const mainThreadCpuCores = cores(before?.main, after?.main)
        const memory = pid === null ? null : await memoryOf(pid).catch(() => null)
        return {
          name: names[i]!,
          cpuCores,
          mainThreadCpuCores,
          rssMiB: memory ? round(memory.rssMiB) : null,
          maxOpenFiles: maxOpenFiles[i]!,
        }
      }),
    )

    const result: PhaseResult = {
      instances: size,
      connections: {
        asked: settings.connections,
        opened: load.opened(),
        openAtEnd: load.openNow(),
        openSeconds: round(openSeconds),
      },
      offeredPerSecond: settings.offeredRate,
      achievedPerSecond: 0,
      endpoints: load.results(elapsed),
      processes,
      otherProcessesCpuCores: round(otherCpu(machineBefore, machineAfter)),
      cpuPressure,
      refreshesWithoutFreeSession: load.starved(),
    }
    const haproxyFiles = maxOpenFiles[size]
    if (haproxyFiles !== null && haproxyFiles !== undefined && haproxyFiles > budget.haproxy)
      throw new BenchError(`HAProxy held ${haproxyFiles} descriptors, above its budget of ${budget.haproxy}`)
    result.achievedPerSecond = round(endpoints.reduce((sum, e) => sum + result.endpoints[e].perSecond, 0))
    await load.close()
    // --cpu-prof and friends write their files on a graceful exit only.
    if (settings.serverNodeArgs.trim()) await Promise.all(cluster.instances.map((instance) => instance.stop()))
    return result
  } finally {
    closeAgents()
    await scope.close()
  }
}

interface World {
  basic: string
  emails: string[]
  /** Refresh tokens ready to be rotated; each rotation puts its successor back. */
  sessions: string[]
}

async function prepareWorld(cluster: Cluster): Promise<World> {
  const created = await cluster.cli(['clients', 'create', '--name', 'bench', '--grant', 'client_credentials', '--json'])
  if (created.code !== 0) throw new BenchError(`clients create: ${created.stderr}`)
  const client = JSON.parse(created.stdout) as { client_id: string; client_secret: string }
  const emails = Array.from({ length: USERS }, (_, i) => `bench${i}@example.com`)
  for (const email of emails) {
    const answer = await request(`${cluster.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD }),
    })
    if (answer.status !== 202) throw new BenchError(`register: ${answer.status} ${answer.body}`)
  }
  const sessions: string[] = []
  // One at a time: the password hasher's queue is bounded and answers 503 when full.
  for (let i = 0; i < SESSIONS; i++) {
    const login = await request(`${cluster.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: emails[i % USERS], password: PASSWORD }),
    })
    const cookie = sessionCookieOf(login.headers['set-cookie'])
    if (login.status !== 200 || !cookie) throw new BenchError(`login: ${login.status} ${login.body}`)
    sessions.push(cookie)
  }
  return { basic: basicAuthorization(client.client_id, client.client_secret), emails, sessions }
}

function createLoad(cluster: Cluster, world: World, settings: BenchSettings) {
  const target = new URL(cluster.url)
  const agents = Array.from(
    { length: settings.connections },
    () => new http.Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1, keepAliveMsecs: 30_000 }),
  )
  const sockets = new Set<Socket>()
  let latencies: Record<Endpoint, number[]>
  let statuses: Record<Endpoint, Record<string, number>>
  let errors: Record<Endpoint, number>
  const reset = () => {
    latencies = { token: [], refresh: [], jwks: [], login: [] }
    statuses = { token: {}, refresh: {}, jwks: {}, login: {} }
    errors = { token: 0, refresh: 0, jwks: 0, login: 0 }
  }
  reset()
  let sent = 0
  let starved = 0

  const send = (agent: http.Agent, method: string, pathname: string, headers: Record<string, string>, body = '') =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
      const req = http.request(
        {
          host: target.hostname,
          port: target.port,
          path: pathname,
          method,
          agent,
          headers: body ? { ...headers, 'content-length': String(Buffer.byteLength(body)) } : headers,
        },
        (res) => {
          res.resume()
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }))
          res.on('error', reject)
        },
      )
      req.on('socket', (socket) => sockets.add(socket))
      req.on('error', reject)
      req.end(body)
    })

  const perform = async (agent: http.Agent, endpoint: Endpoint): Promise<void> => {
    const started = performance.now()
    let status: number
    try {
      if (endpoint === 'token') {
        status = (
          await send(
            agent,
            'POST',
            '/oauth/token',
            { authorization: world.basic, 'content-type': 'application/x-www-form-urlencoded' },
            'grant_type=client_credentials',
          )
        ).status
      } else if (endpoint === 'jwks') {
        status = (await send(agent, 'GET', '/.well-known/jwks.json', {})).status
      } else if (endpoint === 'login') {
        const email = world.emails[sent % world.emails.length]!
        const answer = await send(
          agent,
          'POST',
          '/auth/login',
          { 'content-type': 'application/json' },
          JSON.stringify({ email, password: PASSWORD }),
        )
        status = answer.status
        const cookie = sessionCookieOf(answer.headers['set-cookie'])
        if (cookie) world.sessions.push(cookie)
      } else {
        const refreshToken = world.sessions.shift()
        // Every session is in a rotation still in flight (the cluster has fallen far behind), or
        // every rotation failed: counted as a failed refresh, not waited for.
        if (!refreshToken) {
          starved++
          errors[endpoint]++
          return
        }
        const answer = await send(agent, 'POST', '/auth/refresh', {
          cookie: `${SESSION_COOKIE}=${refreshToken}`,
          origin: cluster.issuer,
          'x-requested-with': 'latchkey',
        })
        status = answer.status
        world.sessions.push(sessionCookieOf(answer.headers['set-cookie']) ?? refreshToken)
      }
    } catch (error) {
      if (error instanceof BenchError) throw error
      errors[endpoint]++
      return
    }
    latencies[endpoint].push(performance.now() - started)
    statuses[endpoint][status] = (statuses[endpoint][status] ?? 0) + 1
  }

  return {
    /** One GET /healthz per connection, 500 at a time, so every connection is open before the load. */
    async open() {
      for (let i = 0; i < agents.length; i += 500) {
        await Promise.all(
          agents.slice(i, i + 500).map(async (agent) => {
            const answer = await send(agent, 'GET', '/healthz', {})
            if (answer.status !== 200) throw new BenchError(`/healthz answered ${answer.status}`)
          }),
        )
      }
    },
    /** Every connection sends on its own schedule so that together they offer BENCH_RATE per second. */
    async run(seconds: number) {
      if (seconds <= 0) return
      const intervalMs = (1000 * agents.length) / settings.offeredRate
      const end = performance.now() + seconds * 1000
      await Promise.all(
        agents.map(async (agent) => {
          let next = performance.now() + Math.random() * intervalMs
          for (;;) {
            if (next >= end) return
            const wait = next - performance.now()
            if (wait > 0) await sleep(wait)
            // Drawn at random in the mix's proportions: taken in turn, the 20-step cycle lined up
            // with HAProxy's round robin (20 is even), which sent every login (argon2) to one of
            // two instances and 4 of 5 refreshes to the other.
            sent++
            await perform(agent, MIX[Math.floor(Math.random() * MIX.length)]!)
            next += intervalMs
          }
        }),
      )
    },
    reset: () => {
      reset()
      starved = 0
    },
    /** Refreshes not sent because no session was free (counted in the refresh errors too). */
    starved: () => starved,
    opened: () => sockets.size,
    openNow: () => [...sockets].filter((socket) => !socket.destroyed).length,
    results(seconds: number): Record<Endpoint, EndpointResult> {
      const result = {} as Record<Endpoint, EndpointResult>
      for (const endpoint of endpoints) {
        const sorted = [...latencies[endpoint]].sort((a, b) => a - b)
        const at = (q: number) => (sorted.length === 0 ? null : round(sorted[Math.ceil(q * sorted.length) - 1]!))
        result[endpoint] = {
          requests: sorted.length,
          perSecond: round(sorted.length / seconds),
          p50Ms: at(0.5),
          p99Ms: at(0.99),
          maxMs: at(1),
          statuses: statuses[endpoint],
          errors: errors[endpoint],
        }
      }
      return result
    },
    async close() {
      for (const agent of agents) agent.destroy()
    },
  }
}

function report(phases: PhaseResult[]): void {
  const header = ['', ...phases.map((p) => `${p.instances} instance${p.instances > 1 ? 's' : ''}`)]
  const rows: string[][] = [
    [
      'connections held (opened)',
      ...phases.map((p) => `${fixed(p.connections.openAtEnd)} (${fixed(p.connections.opened)})`),
    ],
    ['offered / achieved req/s', ...phases.map((p) => `${fixed(p.offeredPerSecond)} / ${fixed(p.achievedPerSecond)}`)],
  ]
  for (const endpoint of endpoints) {
    rows.push([
      `${endpoint} req/s, p50 / p99 ms`,
      ...phases.map((p) => {
        const e = p.endpoints[endpoint]
        return `${fixed(e.perSecond)}, ${fmt(e.p50Ms)} / ${fmt(e.p99Ms)}`
      }),
    ])
    rows.push([
      `${endpoint} non-2xx + errors`,
      ...phases.map((p) => {
        const e = p.endpoints[endpoint]
        const bad = Object.entries(e.statuses).filter(([status]) => !status.startsWith('2'))
        return `${bad.reduce((s, [, n]) => s + n, 0)} + ${e.errors}`
      }),
    ])
  }
  const processNames = [...new Set(phases.flatMap((p) => p.processes.map((x) => x.name)))]
  for (const name of processNames)
    rows.push([
      `${name} CPU cores / RSS MiB`,
      ...phases.map((p) => {
        const use = p.processes.find((x) => x.name === name)
        return use ? `${fmt(use.cpuCores, 2)} / ${fmt(use.rssMiB)}` : '-'
      }),
    ])
  for (const name of processNames.filter((n) => n.startsWith('latchkey-')))
    rows.push([
      `${name} CPU: main thread / other threads`,
      ...phases.map((p) => {
        const use = p.processes.find((x) => x.name === name)
        if (!use || use.cpuCores === null || use.mainThreadCpuCores === null) return '-'
        return `${fmt(use.mainThreadCpuCores, 2)} / ${fmt(use.cpuCores - use.mainThreadCpuCores, 2)}`
      }),
    ])
  for (const name of processNames)
    rows.push([
      `${name} most fds held`,
      ...phases.map((p) => fmt(p.processes.find((x) => x.name === name)?.maxOpenFiles ?? null, 0)),
    ])
  rows.push(['refreshes with no free session (in errors)', ...phases.map((p) => fixed(p.refreshesWithoutFreeSession))])
  rows.push(['other processes, CPU cores', ...phases.map((p) => fmt(p.otherProcessesCpuCores, 2))])
  rows.push([
    'CPU pressure: share waiting (PSI some) / avg10 %',
    ...phases.map((p) =>
      p.cpuPressure.someShare === null
        ? `no PSI; runnable ${fmt(p.cpuPressure.runnable, 0)}, load ${fmt(p.cpuPressure.load1, 2)}`
        : `${fmt(p.cpuPressure.someShare * 100, 0)} % / ${fmt(p.cpuPressure.someAvg10, 0)} %`,
    ),
  ])
  printTable(header, rows)

  const bars: Record<string, Bar> = {}
  for (const phase of phases) {
    for (const endpoint of ['token', 'refresh'] as const) {
      const e = phase.endpoints[endpoint]
      const failures =
        e.errors +
        Object.entries(e.statuses)
          .filter(([s]) => !s.startsWith('2'))
          .reduce((sum, [, n]) => sum + n, 0)
      bars[`${phase.instances}-${endpoint}`] = {
        holds: e.p99Ms !== null && e.p99Ms <= P99_BAR_MS && failures === 0,
        text: `${phase.instances} instance(s), ${endpoint}: p99 ${fmt(e.p99Ms)} ms ≤ ${P99_BAR_MS} ms and no failures (${failures}) at ${fixed(phase.offeredPerSecond)} req/s offered over ${fixed(phase.connections.asked)} connections`,
      }
    }
  }
  printBars(bars)
}

function fmt(value: number | null, digits = 1): string {
  return value === null ? '-' : fixed(value, digits)
}

function round(value: number | null): number {
  return value === null ? Number.NaN : Math.round(value * 100) / 100
}

function sessionCookieOf(cookies: string[] | undefined): string | null {
  for (const cookie of cookies ?? []) {
    const match = new RegExp(`^${SESSION_COOKIE}=([^;]*)`).exec(cookie)
    if (match && match[1]) return match[1]
  }
  return null
}
