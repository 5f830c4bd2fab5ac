// Latchkey against node-oidc-provider, client_credentials only, and against the peers of
// bench/peers/ (Better Auth: the JWT of a signed-in session). See bench/README.md.
//
// `npm run bench` builds Latchkey first; this file builds nothing of Latchkey's. For each server in
// turn (never two at once, so they do not compete for CPU): start it as a child process on a free
// loopback port, load its token endpoint and its JWKS with autocannon, collect tokens, read the
// server's RSS, stop it with SIGTERM, then time in-process jose verification of the tokens. A peer
// is installed on demand into its own folder first, and skipped with the reason when it cannot be.
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'
import { BenchError } from './lib/bench-error.js'
import type { StopResult } from './lib/child-process.js'
import { clientCredentialsRequest, requestAccessToken } from './lib/client-credentials.js'
import { busyMachineCores, cpuSnapshot, measureQuietly, otherCpu } from './lib/cpu-accounting.js'
import { fetchJson } from './lib/fetch-json.js'
import { latchkeyEntry } from './lib/latchkey.js'
import { installPeer, type PeerInstall } from './lib/peer.js'
import { memoryOf, type Memory } from './lib/process-memory.js'
import { repeatFor, repeatTimes } from './lib/repeat.js'
import { fixed, printBars, printTable, type Bar } from './lib/report.js'
import { writeResults } from './lib/results-file.js'
import { runBench } from './lib/run-bench.js'
import { measureWorkload, type ServerUnderTest } from './lib/server-under-test.js'
import type { BenchSettings } from './lib/settings.js'
import type { LoadStats } from './lib/autocannon-run.js'
import { startCalibration, type CalibrationName } from './lib/calibration.js'
import { betterAuth } from './servers/better-auth.js'
import { latchkey } from './servers/latchkey.js'
import { oidcProvider } from './servers/oidc-provider.js'
import { AUDIENCE, SCOPE, type TokenServer } from './servers/token-server.js'

const serversUnderTest: ServerUnderTest<TokenServer>[] = [latchkey, oidcProvider]
const peerNames = ['better-auth'] as const

function verifyOptions(server: TokenServer) {
  return { issuer: server.issuer, audience: server.audience, typ: 'at+jwt', algorithms: ['ES256'] }
}

interface VerifyStats {
  otherProcessesCpuCores: number | null
  verificationsPerSecond: number
  verifications: number
  seconds: number
  distinctTokens: number
  concurrency: number
}

async function measureVerification(
  server: TokenServer,
  tokens: string[],
  jwks: JSONWebKeySet,
  settings: BenchSettings,
): Promise<VerifyStats> {
  const keySet = createLocalJWKSet(jwks)
  const options = verifyOptions(server)
  // Every token once first: checks they all verify, and warms jose up.
  for (const token of tokens) {
    await jwtVerify(token, keySet, options).catch((error: unknown) => {
      throw new BenchError(
        `${server.name}: an issued token does not verify against its JWKS (${String(error)}): ${token}`,
      )
    })
  }
  // The server is stopped by now: only the bench process itself is ours.
  const before = await cpuSnapshot()
  const run = await repeatFor(settings.verifySeconds, settings.verifyConcurrency, (i) =>
    jwtVerify(tokens[i % tokens.length]!, keySet, options),
  )
  return {
    otherProcessesCpuCores: otherCpu(before, await cpuSnapshot()),
    verificationsPerSecond: run.perSecond,
    verifications: run.done,
    seconds: run.seconds,
    distinctTokens: tokens.length,
    concurrency: settings.verifyConcurrency,
  }
}

interface ServerResult {
  tokenRequest: { url: string; body: string; jwksUrl: string }
  token: LoadStats
  jwks: LoadStats & { keys: number; bytes: number }
  verification: VerifyStats
  memory: { idleAfterReady: Memory; afterRun: Memory }
  tokenBytes: number
  stop: StopResult
}

async function benchServer(serverUnderTest: ServerUnderTest<TokenServer>, settings: BenchSettings) {
  const name = serverUnderTest.name
  process.stderr.write(`${name}: starting\n`)
  const server = await serverUnderTest.start(settings)
  let stopped: StopResult | null = null
  try {
    const idleAfterReady = await memoryOf(server.servingPid)
    // Sanity check before any load: one token that verifies against the published keys.
    const { token: tokenRequest, jwks: jwksRequest } = server.workloads
    const jwksText = await (await fetch(jwksRequest.url)).text()
    const firstJwks = JSON.parse(jwksText) as JSONWebKeySet
    const first = await requestAccessToken(name, tokenRequest, SCOPE)
    await jwtVerify(first, createLocalJWKSet(firstJwks), verifyOptions(server)).catch((error: unknown) => {
      throw new BenchError(`${name}: first token does not verify against ${jwksRequest.url} (${String(error)})`)
    })

    const token = await measureWorkload(server, tokenRequest, 'client_credentials token requests', settings)
    const jwks = await measureWorkload(server, jwksRequest, 'JWKS GETs', settings)

    process.stderr.write(`  ${name}: collecting ${settings.tokens} tokens\n`)
    const tokens = await repeatTimes(settings.tokens, settings.verifyConcurrency, () =>
      requestAccessToken(name, tokenRequest, SCOPE),
    )
    const jwksBody = await fetchJson(jwksRequest.url)
    const afterRun = await memoryOf(server.servingPid)
    stopped = await server.stop()

    process.stderr.write(
      `  ${name}: verifying tokens in-process (${settings.verifySeconds} s, ${settings.verifyConcurrency} in flight)\n`,
    )
    const verification = await measureQuietly(settings, () =>
      measureVerification(server, tokens, jwksBody as unknown as JSONWebKeySet, settings),
    )
    const result: ServerResult = {
      tokenRequest: { url: tokenRequest.url, body: tokenRequest.body!, jwksUrl: jwksRequest.url },
      token,
      jwks: { ...jwks, keys: (firstJwks.keys ?? []).length, bytes: Buffer.byteLength(jwksText) },
      verification,
      memory: { idleAfterReady, afterRun },
      tokenBytes: first.length,
      stop: stopped,
    }
    return result
  } finally {
    if (!stopped) await server.stop()
  }
}

/** A peer measured like the servers above, or why it was not. */
type PeerResult =
  | {
      skipped: false
      versions: Record<string, string>
      token: { url: string } & LoadStats
      jwks: { url: string; keys: number; bytes: number } & LoadStats
      tokenBytes: number
      memory: { idleAfterReady: Memory; afterRun: Memory }
      stop: StopResult
    }
  | { skipped: true; reason: string }

async function benchBetterAuth(install: PeerInstall, settings: BenchSettings): Promise<PeerResult> {
  if (!install.installed) return { skipped: true, reason: install.reason }
  const { peer } = install
  process.stderr.write(
    `better-auth: starting (${Object.entries(peer.versions)
      .map(([n, v]) => `${n} ${v}`)
      .join(', ')})\n`,
  )
  const server = await betterAuth(peer).start(settings)
  try {
    const idleAfterReady = await memoryOf(server.servingPid)
    const jwksText = await (await fetch(server.workloads.jwks.url)).text()
    const token = await measureWorkload(
      server,
      server.workloads.token,
      'session JWT requests (GET /api/auth/token)',
      settings,
    )
    const jwks = await measureWorkload(server, server.workloads.jwks, 'JWKS GETs', settings)
    const afterRun = await memoryOf(server.servingPid)
    return {
      skipped: false,
      versions: peer.versions,
      token: { url: server.workloads.token.url, ...token },
      jwks: {
        url: server.workloads.jwks.url,
        ...jwks,
        keys: ((JSON.parse(jwksText) as JSONWebKeySet).keys ?? []).length,
        bytes: Buffer.byteLength(jwksText),
      },
      tokenBytes: server.firstToken.length,
      memory: { idleAfterReady, afterRun },
      stop: await server.stop(),
    }
  } finally {
    await server.stop()
  }
}

function printPeerComparison(l: ServerResult | undefined, p: PeerResult & { skipped: false }): void {
  type Row = [string, (r: ServerResult) => string, (r: PeerResult & { skipped: false }) => string, number?]
  const rows: Row[] = [
    [
      'JWT req/s (2xx, mean)',
      (r) => fixed(r.token.requestsPerSecond),
      (r) => fixed(r.token.requestsPerSecond),
      l ? l.token.requestsPerSecond / p.token.requestsPerSecond : undefined,
    ],
    [
      'JWT latency p50 / p99 (ms)',
      (r) => `${fixed(r.token.latencyMs.p50)} / ${fixed(r.token.latencyMs.p99)}`,
      (r) => `${fixed(r.token.latencyMs.p50)} / ${fixed(r.token.latencyMs.p99)}`,
    ],
    [
      'JWKS req/s (2xx, mean)',
      (r) => fixed(r.jwks.requestsPerSecond),
      (r) => fixed(r.jwks.requestsPerSecond),
      l ? l.jwks.requestsPerSecond / p.jwks.requestsPerSecond : undefined,
    ],
    [
      'JWKS latency p50 / p99 (ms)',
      (r) => `${fixed(r.jwks.latencyMs.p50)} / ${fixed(r.jwks.latencyMs.p99)}`,
      (r) => `${fixed(r.jwks.latencyMs.p50)} / ${fixed(r.jwks.latencyMs.p99)}`,
    ],
    ['JWKS keys / bytes', (r) => `${r.jwks.keys} / ${r.jwks.bytes}`, (r) => `${r.jwks.keys} / ${r.jwks.bytes}`],
    ['JWT bytes', (r) => fixed(r.tokenBytes), (r) => fixed(r.tokenBytes)],
    [
      "other processes' CPU, JWT / JWKS (cores)",
      (r) => [r.token, r.jwks].map((s) => s.otherProcessesCpuCores?.toFixed(2) ?? '?').join(' / '),
      (r) => [r.token, r.jwks].map((s) => s.otherProcessesCpuCores?.toFixed(2) ?? '?').join(' / '),
    ],
    ['RSS after run (MiB)', (r) => fixed(r.memory.afterRun.rssMiB, 1), (r) => fixed(r.memory.afterRun.rssMiB, 1)],
  ]
  printTable(
    [
      '',
      ...(l ? ['latchkey (client_credentials)'] : []),
      'better-auth (session JWT)',
      ...(l ? ['latchkey / better-auth'] : []),
    ],
    rows.map(([label, latchkeyCell, peerCell, ratio]) => [
      label,
      ...(l ? [latchkeyCell(l)] : []),
      peerCell(p),
      ...(l ? [ratio === undefined ? '' : `${ratio.toFixed(1)}x`] : []),
    ]),
  )
}

function peerBarsOf(l: ServerResult, p: PeerResult & { skipped: false }): Record<string, Bar> {
  const version = p.versions['better-auth'] ?? '?'
  return {
    tokenVsBetterAuth: ratioBar(
      'JWT issuance (client_credentials)',
      l.token.requestsPerSecond / p.token.requestsPerSecond,
      20,
      `Better Auth ${version} (session JWT, GET /api/auth/token)`,
    ),
    jwksVsBetterAuth: ratioBar(
      'JWKS throughput',
      l.jwks.requestsPerSecond / p.jwks.requestsPerSecond,
      30,
      `Better Auth ${version} (GET /api/auth/jwks)`,
    ),
  }
}

function printComparison(results: Record<string, ServerResult>, ratios: Record<string, number> | null): void {
  type Row = [string, (r: ServerResult) => string, string?]
  const rows: Row[] = [
    ['token req/s (2xx, mean)', (r) => fixed(r.token.requestsPerSecond), 'token'],
    ['token latency p50 / p99 (ms)', (r) => `${fixed(r.token.latencyMs.p50)} / ${fixed(r.token.latencyMs.p99)}`],
    ['token non-2xx', (r) => fixed(r.token.non2xx)],
    ['JWKS req/s (2xx, mean)', (r) => fixed(r.jwks.requestsPerSecond), 'jwks'],
    ['JWKS latency p50 / p99 (ms)', (r) => `${fixed(r.jwks.latencyMs.p50)} / ${fixed(r.jwks.latencyMs.p99)}`],
    ['JWKS non-2xx', (r) => fixed(r.jwks.non2xx)],
    ['JWKS keys / bytes', (r) => `${r.jwks.keys} / ${r.jwks.bytes}`],
    ['access token bytes', (r) => fixed(r.tokenBytes)],
    ['jose verifications/s', (r) => fixed(r.verification.verificationsPerSecond), 'verify'],
    [
      "other processes' CPU, token / JWKS / verify (cores)",
      (r) =>
        [r.token.otherProcessesCpuCores, r.jwks.otherProcessesCpuCores, r.verification.otherProcessesCpuCores]
          .map((c) => (c === null ? '?' : c.toFixed(2)))
          .join(' / '),
    ],
    ['RSS idle after ready (MiB)', (r) => fixed(r.memory.idleAfterReady.rssMiB, 1)],
    ['RSS after run (MiB)', (r) => fixed(r.memory.afterRun.rssMiB, 1), 'rss'],
    ['peak RSS, VmHWM (MiB)', (r) => fixed(r.memory.afterRun.peakRssMiB, 1)],
  ]
  const names = Object.keys(results)
  printTable(
    ['', ...names, ...(ratios ? ['latchkey / oidc-provider'] : [])],
    rows.map(([label, cell, ratioKey]) => [
      label,
      ...names.map((name) => cell(results[name]!)),
      ...(ratios ? [ratioKey && ratios[ratioKey] !== undefined ? `${ratios[ratioKey].toFixed(2)}x` : ''] : []),
    ]),
  )
}

/** The calibrations of this bench, measured right after the servers with the same load. */
interface Calibrations {
  /** (a) Fastify hello-world JSON. */
  hello: LoadStats
  /** (b) bare client_credentials: Fastify + jose ES256, one client in memory. */
  clientCredentials: LoadStats
}

async function measureCalibration(
  name: CalibrationName,
  env: Record<string, string>,
  request: (origin: string) => Parameters<typeof measureWorkload>[1],
  label: string,
  settings: BenchSettings,
): Promise<LoadStats> {
  process.stderr.write(`calibration ${name}: starting\n`)
  const server = await startCalibration(name, env)
  try {
    return await measureWorkload(server, request(server.origin), label, settings)
  } finally {
    await server.stop()
  }
}

async function measureCalibrations(settings: BenchSettings): Promise<Calibrations> {
  const client = { client_id: 'bench', client_secret: randomBytes(32).toString('base64url') }
  return {
    hello: await measureCalibration(
      'hello',
      {},
      (origin) => ({ url: `${origin}/`, method: 'GET' }),
      'hello-world GETs',
      settings,
    ),
    clientCredentials: await measureCalibration(
      'client-credentials',
      { CLIENT_ID: client.client_id, CLIENT_SECRET: client.client_secret, AUDIENCE, SCOPE },
      (origin) => clientCredentialsRequest(`${origin}/oauth/token`, client),
      'bare client_credentials token requests',
      settings,
    ),
  }
}

function ratioBar(what: string, ratio: number, bar: number, of: string): Bar {
  return { holds: ratio >= bar, text: `${what} >= ${bar} x ${of} (${ratio.toFixed(2)}x)` }
}

function barsOf(
  l: ServerResult,
  o: ServerResult,
  c: Calibrations,
  ratios: Record<'token' | 'jwks' | 'rss', number>,
): Record<string, Bar> {
  const p99Ratio = l.token.latencyMs.p99 / Math.max(1, c.clientCredentials.latencyMs.p99)
  return {
    tokenVsBare: ratioBar(
      'client_credentials throughput',
      l.token.requestsPerSecond / c.clientCredentials.requestsPerSecond,
      0.9,
      'bare client_credentials (b)',
    ),
    tokenVsOidcProvider: ratioBar('client_credentials throughput', ratios.token, 2.5, 'oidc-provider'),
    tokenP99: {
      holds: p99Ratio <= 1.2,
      text: `client_credentials p99 <= 1.2 x (b)'s p99 (${fixed(l.token.latencyMs.p99)} vs ${fixed(c.clientCredentials.latencyMs.p99)} ms: ${p99Ratio.toFixed(2)}x; autocannon counts whole ms, (b)'s p99 floored at 1)`,
    },
    jwksVsHello: ratioBar(
      'JWKS throughput',
      l.jwks.requestsPerSecond / c.hello.requestsPerSecond,
      0.85,
      'Fastify hello-world (a)',
    ),
    memory: {
      holds: ratios.rss <= 0.9,
      text: `Latchkey RSS after the run <= 0.9 x oidc-provider's (${fixed(l.memory.afterRun.rssMiB, 1)} vs ${fixed(o.memory.afterRun.rssMiB, 1)} MiB: ${ratios.rss.toFixed(2)}x)`,
    },
  }
}

await runBench({ serverNames: [...serversUnderTest.map((s) => s.name), ...peerNames] }, async (settings) => {
  const selected = serversUnderTest.filter((s) => settings.only === undefined || s.name === settings.only)
  const runPeer = settings.peers === 'run' && (settings.only === undefined || settings.only === 'better-auth')
  // Installed before anything is measured: a build from source would otherwise share the CPU.
  const peerInstall = runPeer ? await installPeer('better-auth') : null
  const started = new Date()
  const loadBefore = os.loadavg()
  process.stderr.write(
    `bench: ${[...selected.map((s) => s.name), ...(runPeer ? ['better-auth'] : [])].join(' then ')}; ${settings.durationSeconds} s per load phase, ${settings.connections} connections, ` +
      `${settings.warmupSeconds} s warm-up per phase; node ${process.version}, ${os.cpus().length} CPUs\n`,
  )

  const results: Record<string, ServerResult> = {}
  for (const server of selected) results[server.name] = await benchServer(server, settings)
  const peers: Record<string, PeerResult> = {}
  if (peerInstall) {
    peers['better-auth'] = await benchBetterAuth(peerInstall, settings)
    if (!peerInstall.installed)
      process.stderr.write(`better-auth: SKIPPED, the peer could not be installed: ${peerInstall.reason}\n`)
  }

  const l = results.latchkey
  const o = results['oidc-provider']
  const ratios =
    l && o
      ? {
          token: l.token.requestsPerSecond / o.token.requestsPerSecond,
          jwks: l.jwks.requestsPerSecond / o.jwks.requestsPerSecond,
          verify: l.verification.verificationsPerSecond / o.verification.verificationsPerSecond,
          rss: l.memory.afterRun.rssMiB / o.memory.afterRun.rssMiB,
        }
      : null
  // The calibrations run whenever both servers did: the bars are ratios to them.
  const calibrations = l && o ? await measureCalibrations(settings) : null
  const p = peers['better-auth']
  const allBars = {
    ...(l && o && ratios && calibrations ? barsOf(l, o, calibrations, ratios) : {}),
    ...(l && p && !p.skipped ? peerBarsOf(l, p) : {}),
  }
  const bars = Object.keys(allBars).length > 0 ? allBars : null

  if (Object.keys(results).length > 0) printComparison(results, ratios)
  if (p && !p.skipped) printPeerComparison(l, p)
  for (const [name, result] of [
    ...Object.entries(results),
    ...Object.entries(peers).flatMap(([name, r]) => (r.skipped ? [] : [[name, r] as const])),
  ]) {
    const m = result.memory.afterRun
    console.log(`${name}: RSS read from pid ${m.pid} (${m.command})`)
  }
  if (calibrations) {
    for (const [what, c] of [
      ['(a) Fastify hello-world JSON', calibrations.hello],
      ['(b) bare client_credentials', calibrations.clientCredentials],
    ] as const)
      console.log(
        `calibration ${what}: ${fixed(c.requestsPerSecond)}/s, p50 / p99 ${fixed(c.latencyMs.p50)} / ${fixed(c.latencyMs.p99)} ms`,
      )
  }
  console.log(`load average (1 min) before the run: ${loadBefore[0]!.toFixed(2)} on ${os.cpus().length} CPUs`)
  const busyPhases = [
    ...Object.entries(results),
    ...Object.entries(peers).flatMap(([name, r]) => (r.skipped ? [] : [[name, r] as const])),
  ].flatMap(([name, r]) =>
    (
      [
        ['token', r.token.otherProcessesCpuCores],
        ['JWKS', r.jwks.otherProcessesCpuCores],
        ['verify', 'verification' in r ? r.verification.otherProcessesCpuCores : null],
      ] as const
    )
      .filter(([, cores]) => cores !== null && cores > busyMachineCores)
      .map(([phase, cores]) => `${name} ${phase} (${cores!.toFixed(2)} cores)`),
  )
  if (busyPhases.length > 0) {
    console.log(
      `WARNING: other processes used CPU during ${busyPhases.join(', ')}: those numbers are skewed; rerun on a quiet machine`,
    )
  }
  console.log()
  if (bars) printBars(bars)
  else console.log('(one server only: no ratios or bars)')
  if (p?.skipped) {
    console.log(
      `SKIPPED JWT issuance >= 20 x and JWKS >= 30 x Better Auth: the peer could not be installed ` +
        `(${p.reason.split('\n')[0]!.replace(/:$/, '')}; BENCH_PEERS=skip leaves it out)`,
    )
  }

  const latchkeyCli = latchkeyEntry(settings, 'dist')
  const file = await writeResults(
    'results.json',
    {
      date: started.toISOString(),
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? null,
      // Other work on the machine skews everything: compare with the CPU count.
      loadAverage1mBefore: loadBefore[0],
      settings: {
        loadDurationSeconds: settings.durationSeconds,
        warmupSecondsPerPhase: settings.warmupSeconds,
        connections: settings.connections,
        pipelining: 1,
        verifyDurationSeconds: settings.verifySeconds,
        verifyConcurrency: settings.verifyConcurrency,
        tokensCollected: settings.tokens,
        oidcProviderLoader: settings.oidcLoader,
        peers: settings.peers,
        latchkeyCli,
      },
      results,
      peers,
      calibrations,
      ratios,
      bars,
    },
    [path.resolve(settings.latchkeyRoot)],
  )
  console.log(`\nwritten to ${path.relative(process.cwd(), file) || file}`)
})
