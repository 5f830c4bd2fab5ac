// Several real `latchkey serve` processes on one PostgreSQL database and one Redis, sharing a KEK,
// behind a real HAProxy started with deploy/haproxy/haproxy.cfg: the layout of deploy/compose.yaml
// on loopback. test/deploy/deploy-kit.test.ts checks that compose and this harness agree, from
// the constants below.
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { randomBytes, randomInt } from 'node:crypto'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { Redis } from 'ioredis'
import type { DatabaseConfig } from '../../server/config.js'
import { freePort } from './free-port.js'
import { cliEnv, runLatchkey } from './run-cli.js'
import { provisionDatabase, testDirOf, type Tap } from './test-database.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')

/** The one HAProxy configuration: the harness, the bench and compose all start this file. */
export const HAPROXY_CONFIG = path.join(repoRoot, 'deploy/haproxy/haproxy.cfg')

export const INSTANCE_COUNT = 3

/** HAProxy's server name for instance i (0-based), as in haproxy.cfg and as compose's service names. */
export const instanceName = (i: number) => `latchkey-${i + 1}`

/** What every instance is given alike; compose and the Kubernetes manifests set the same names. */
export const SHARED_INSTANCE_VARIABLES = [
  'DATABASE_URL',
  'REDIS_URL',
  'LATCHKEY_KEK',
  'LATCHKEY_ISSUER',
  'LATCHKEY_TRUST_PROXY',
] as const

/** HAProxy is the one hop in front of the instances whose X-Forwarded-For they believe. */
export const TRUST_PROXY_HOPS = '1'

/** haproxy.cfg's settings with defaults (4096 connections, 10 s idle keep-alive); the capacity bench raises them. */
export interface HaproxyLimits {
  /** LATCHKEY_LB_MAXCONN: client connections held at once. */
  maxConnections?: number
  /** LATCHKEY_LB_KEEPALIVE: how long an idle client connection is kept, as HAProxy writes times ("60s"). */
  keepAliveTimeout?: string
  /**
   * LATCHKEY_LB_FD_LIMIT: HAProxy's file limit, with strict-limits off. Only for a caller that has
   * computed the budget from haproxy.cfg's server maxconn (bench:cluster); see haproxy.cfg.
   */
  fileLimit?: number
}

/** The environment haproxy.cfg reads. */
export function haproxyEnvironment(
  bind: string,
  statsBind: string,
  backends: string[],
  limits: HaproxyLimits = {},
): Record<string, string> {
  const env: Record<string, string> = { LATCHKEY_LB_BIND: bind, LATCHKEY_LB_STATS_BIND: statsBind }
  if (limits.maxConnections !== undefined) env.LATCHKEY_LB_MAXCONN = String(limits.maxConnections)
  if (limits.keepAliveTimeout !== undefined) env.LATCHKEY_LB_KEEPALIVE = limits.keepAliveTimeout
  if (limits.fileLimit !== undefined) env.LATCHKEY_LB_FD_LIMIT = String(limits.fileLimit)
  backends.forEach((backend, i) => (env[`LATCHKEY_BACKEND_${i + 1}`] = backend))
  return env
}

export interface Instance {
  name: string
  port: number
  url: string
  /** Every JSON log line this instance printed, across restarts. */
  logs: () => Record<string, unknown>[]
  /** True while the process has not exited. */
  running(): boolean
  /** The process id while it runs (CPU and memory accounting). */
  pid(): number | null
  /** SIGTERM and wait for the exit: the graceful shutdown (node writes --cpu-prof profiles then). */
  stop(): Promise<void>
  /** SIGKILL: no graceful shutdown, requests in flight are cut. */
  kill9(): Promise<void>
  /** Starts the process (again, after kill9) on the same port and waits for /readyz. */
  restart(): Promise<void>
}

export interface ServerStats {
  /** HAProxy's view: UP, DOWN, "UP 1/2"… */
  status: string
  /** Requests (sessions) HAProxy sent to this server so far. */
  total: number
}

export interface Cluster {
  /** HAProxy's address: what clients use. */
  url: string
  issuer: string
  database: DatabaseConfig & { dialect: 'postgres' }
  instances: Instance[]
  /** HAProxy's per-server counters, from its stats page. */
  stats(): Promise<Record<string, ServerStats>>
  /** Waits until HAProxy reports every named server with the given status. */
  waitForStatus(names: string[], status: 'UP' | 'DOWN', timeoutMs?: number): Promise<void>
  haproxyPid(): number | null
  /** Runs the CLI against the cluster's database (as an operator or the migrations Job would). */
  cli(args: string[], stdin?: string): ReturnType<typeof runLatchkey>
}

export interface ClusterOptions {
  /** Extra settings for every instance (e.g. a short refresh reuse grace). */
  env?: Record<string, string>
  /** How many of haproxy.cfg's three servers run (default all); the others point at a closed port and stay DOWN. */
  running?: number
  /** HAProxy's connection limits, for the capacity bench. */
  haproxy?: HaproxyLimits
  /** Flags for each instance's node (the bench's BENCH_SERVER_NODE_ARGS, e.g. --cpu-prof). */
  nodeArgs?: string[]
  /** A PostgreSQL server and a Redis of the test's own (which it may stop) instead of the shared ones. */
  services?: { databaseUrl: string; redisUrl: string }
}

/** True when PostgreSQL for tests is configured; the cluster needs it (SQLite is one machine only). */
export function clusterAvailable(): boolean {
  return Boolean(process.env.TEST_DATABASE_URL)
}

export function assertHaproxyInstalled(): void {
  const probe = spawnSync('haproxy', ['-v'], { encoding: 'utf8' })
  if (probe.error || probe.status !== 0)
    throw new Error('haproxy is not installed: apt-get install haproxy (.ci/run does this)')
}

export async function startCluster(t: Tap, options: ClusterOptions = {}): Promise<Cluster> {
  assertHaproxyInstalled()
  const dir = testDirOf(t)
  const database: DatabaseConfig & { dialect: 'postgres' } = options.services
    ? { dialect: 'postgres', url: options.services.databaseUrl }
    : ((await provisionDatabase(t, 'postgres', dir)) as DatabaseConfig & { dialect: 'postgres' })
  const [lbPort, statsPort, ...ports] = await Promise.all(Array.from({ length: INSTANCE_COUNT + 2 }, () => freePort()))
  const url = `http://127.0.0.1:${lbPort}`
  const redisUrl = options.services?.redisUrl ?? sharedRedisDatabase(t)
  const shared: Record<(typeof SHARED_INSTANCE_VARIABLES)[number], string> = {
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    LATCHKEY_KEK: randomBytes(32).toString('hex'),
    LATCHKEY_ISSUER: url,
    LATCHKEY_TRUST_PROXY: TRUST_PROXY_HOPS,
  }
  const cli = (args: string[], stdin?: string) =>
    runLatchkey(args, { ...cliEnv(dir, database), ...shared, LOG_LEVEL: 'warn' }, stdin)

  // As the migrations Job does before a rollout; instances then find the schema current.
  const migrated = await cli(['migrate'])
  if (migrated.code !== 0) throw new Error(`latchkey migrate failed: ${migrated.stderr}`)

  const children = new Set<ChildProcess>()
  t.teardown(() => {
    for (const child of children) child.kill('SIGKILL')
  })

  const running = options.running ?? INSTANCE_COUNT
  // A server that is not running points at a port nobody listens on: HAProxy keeps it DOWN.
  const closedPort = await freePort()
  const instances = ports.slice(0, running).map((port, i) =>
    defineInstance({
      name: instanceName(i),
      port,
      dataDir: path.join(dir, instanceName(i)),
      env: { ...shared, ...options.env },
      nodeArgs: options.nodeArgs,
      children,
    }),
  )
  await Promise.all(instances.map((instance) => instance.restart()))

  const haproxy = spawn('haproxy', ['-db', '-f', HAPROXY_CONFIG], {
    env: {
      PATH: process.env.PATH ?? '',
      ...haproxyEnvironment(
        `127.0.0.1:${lbPort}`,
        `127.0.0.1:${statsPort}`,
        ports.map((port, i) => `127.0.0.1:${i < running ? port : closedPort}`),
        options.haproxy,
      ),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let haproxyErrors = ''
  haproxy.stderr.on('data', (d) => (haproxyErrors += d))
  children.add(haproxy)

  const stats = async (): Promise<Record<string, ServerStats>> => {
    const csv = await new Promise<string>((resolve, reject) => {
      http
        .get(`http://127.0.0.1:${statsPort}/stats;csv`, (res) => {
          let body = ''
          res.on('data', (d) => (body += d))
          res.on('end', () => resolve(body))
        })
        .on('error', reject)
    })
    const [header, ...rows] = csv.trim().split('\n')
    const columns = header!.replace(/^# /, '').split(',')
    const at = (name: string) => columns.indexOf(name)
    const result: Record<string, ServerStats> = {}
    for (const row of rows) {
      const cells = row.split(',')
      if (cells[at('pxname')] !== 'latchkey' || !/^latchkey-\d+$/.test(cells[at('svname')] ?? '')) continue
      result[cells[at('svname')]!] = { status: cells[at('status')]!, total: Number(cells[at('stot')]) }
    }
    return result
  }
  const waitForStatus = (names: string[], status: 'UP' | 'DOWN', timeoutMs = 20_000) =>
    waitUntil(`HAProxy reports ${names.join(', ')} ${status}`, timeoutMs, async () => {
      if (haproxy.exitCode !== null) throw new Error(`haproxy exited: ${haproxyErrors}`)
      const current = await stats().catch(() => null)
      return current !== null && names.every((name) => current[name]?.status === status)
    })
  await waitForStatus(
    instances.map((i) => i.name),
    'UP',
  )

  return { url, issuer: url, database, instances, stats, waitForStatus, cli, haproxyPid: () => haproxy.pid ?? null }
}

/** A Redis database index of its own on the shared server, emptied at teardown. */
function sharedRedisDatabase(t: Tap): string {
  const redisUrl = `redis://127.0.0.1:6379/${randomInt(1, 16)}`
  t.teardown(async () => {
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
    await redis.flushdb().finally(() => redis.disconnect())
  })
  return redisUrl
}

/**
 * One `latchkey serve` process from the sources, given only `env` besides its address and data
 * dir; started by restart() (again after kill9()), which waits for /readyz. `children` collects
 * the running process so the caller's teardown can kill it.
 */
export function defineInstance(options: {
  name: string
  port: number
  dataDir: string
  env: Record<string, string>
  nodeArgs?: string[]
  children: Set<ChildProcess>
}): Instance {
  const { name, port, dataDir, children } = options
  fs.mkdirSync(dataDir, { recursive: true })
  const lines: Record<string, unknown>[] = []
  let child: ChildProcess | null = null
  const start = async () => {
    const spawned = spawn(
      process.execPath,
      [...(options.nodeArgs ?? []), '--import', 'tsx', path.join(repoRoot, 'server/cli/main.ts'), 'serve'],
      {
        cwd: repoRoot,
        env: {
          PATH: process.env.PATH ?? '',
          HOST: '127.0.0.1',
          PORT: String(port),
          LATCHKEY_DATA_DIR: dataDir,
          LOG_LEVEL: 'info',
          ...options.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    children.add(spawned)
    spawned.on('exit', () => children.delete(spawned))
    let pending = ''
    const collect = (chunk: Buffer) => {
      pending += chunk.toString('utf8')
      const parts = pending.split('\n')
      pending = parts.pop() ?? ''
      for (const line of parts) {
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>)
        } catch {
          lines.push({ msg: line })
        }
      }
    }
    spawned.stdout.on('data', collect)
    spawned.stderr.on('data', collect)
    child = spawned
    await waitUntil(`${name} ready`, 60_000, async () => {
      if (spawned.exitCode !== null) throw new Error(`${name} exited: ${JSON.stringify(lines.slice(-5))}`)
      return (await get(`http://127.0.0.1:${port}/readyz`)) === 200
    })
  }
  const signal = async (name: 'SIGTERM' | 'SIGKILL') => {
    const running = child
    if (!running || running.exitCode !== null || running.signalCode !== null) return
    const exited = new Promise((resolve) => running.once('exit', resolve))
    running.kill(name)
    await exited
  }
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    logs: () => lines,
    running: () => child !== null && child.exitCode === null && child.signalCode === null,
    pid: () => child?.pid ?? null,
    stop: () => signal('SIGTERM'),
    kill9: () => signal('SIGKILL'),
    restart: start,
  }
}

/** Polls `check` every 100 ms until it is true; throws naming `what` after `timeoutMs`. */
export async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function get(url: string): Promise<number | null> {
  return fetch(url).then(
    (response) => response.status,
    () => null,
  )
}

export interface HttpAnswer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

const agents = new Map<string, http.Agent>()

/**
 * One HTTP request over a keep-alive connection from the loopback address `from` (127.x.y.z), so
 * that each simulated client has an address of its own, as the rate limits and X-Forwarded-For
 * handling see it. Rejects on a connection error or a cut response.
 */
export function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; from?: string } = {},
): Promise<HttpAnswer> {
  const from = options.from ?? '127.0.0.1'
  let agent = agents.get(from)
  if (!agent) {
    agent = new http.Agent({ keepAlive: true, localAddress: from })
    agents.set(from, agent)
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: options.method ?? 'GET',
        agent,
        headers: {
          ...(options.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(options.body)) }),
          ...options.headers,
        },
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d) => (body += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

/** Closes the keep-alive connections `request` opened (call at the end of a test file). */
export function closeAgents(): void {
  for (const agent of agents.values()) agent.destroy()
  agents.clear()
}
