// The resource-service side: @latchkey/verifier against bare jose, and the revocation feed's 304s.
// See bench/README.md ("Verifier and revocation feed").
//
//   npm run bench:verifier
//
// Latchkey runs as a child process (from the sources, SQLite, fresh data dir) so autocannon and the
// server do not share an event loop. Steps:
//   1. a client and BENCH_TOKENS client_credentials tokens; 100 of them revoked, so the feed has entries
//   2. verification, in this process, of the same tokens with BENCH_VERIFY_CONCURRENCY in flight:
//      bare jose jwtVerify + createLocalJWKSet (the key set fetched once) vs createVerifier (discovery,
//      its key cache, the revocation check against the polled feed), alternating for several rounds
//   3. GET /oauth/revocations with If-None-Match = the current ETag, autocannon, counting 304s; then
//      the JWKS's 304 under the same load, as a calibration of what the machine allows

import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'
import { createVerifier } from '@latchkey/verifier'
import { freePort } from './latchkey-process.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const AUDIENCE = 'https://api.example.com'
const settings = {
  tokens: Number(process.env.BENCH_TOKENS ?? 2000),
  verifySeconds: Number(process.env.BENCH_VERIFY_DURATION ?? 3),
  rounds: Number(process.env.BENCH_ROUNDS ?? 3),
  concurrency: Number(process.env.BENCH_VERIFY_CONCURRENCY ?? 32),
  durationSeconds: Number(process.env.BENCH_DURATION ?? 10),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 50),
}

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli/main.ts', ...args], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`latchkey ${args.join(' ')} exited ${code}`)),
    )
  })
}

async function startLatchkey(env: NodeJS.ProcessEnv, issuer: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli/main.ts', 'serve'], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(`${issuer}/readyz`).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) return child
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill('SIGTERM')
  throw new Error('Latchkey did not become ready')
}

/** Verifications per second over `seconds`, `concurrency` in flight, cycling through the tokens. */
async function measure(
  verify: (token: string) => Promise<unknown>,
  tokens: string[],
  seconds: number,
  concurrency: number,
): Promise<number> {
  let done = 0
  let next = 0
  const deadline = performance.now() + seconds * 1000
  const worker = async () => {
    while (performance.now() < deadline) {
      await verify(tokens[next++ % tokens.length]!)
      done++
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  return done / ((performance.now() - started) / 1000)
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-bench-verifier-'))
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const env = {
    PATH: process.env.PATH ?? '',
    LATCHKEY_DATA_DIR: dataDir,
    LATCHKEY_ISSUER: issuer,
    PORT: String(port),
    LOG_LEVEL: 'warn',
    LATCHKEY_RATE_LIMITS: 'false',
  }
  const created = JSON.parse(
    await runCli(
      [
        'clients',
        'create',
        '--name',
        'bench',
        '--grant',
        'client_credentials',
        '--scope',
        'notes:read',
        '--audience',
        AUDIENCE,
        '--json',
      ],
      env,
    ),
  ) as { client_id: string; client_secret: string }
  const server = await startLatchkey(env, issuer)
  try {
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(created.client_id)}:${encodeURIComponent(created.client_secret)}`).toString('base64')}`
    const form = { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }
    const tokens: string[] = []
    for (let i = 0; i < settings.tokens; i++) {
      const res = await fetch(`${issuer}/oauth/token`, {
        method: 'POST',
        headers: form,
        body: 'grant_type=client_credentials',
      })
      tokens.push(((await res.json()) as { access_token: string }).access_token)
    }
    // Revoke 100 others so the feed, and the verifier's revocation check, are not empty.
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${issuer}/oauth/token`, {
        method: 'POST',
        headers: form,
        body: 'grant_type=client_credentials',
      })
      const token = ((await res.json()) as { access_token: string }).access_token
      await fetch(`${issuer}/oauth/revoke`, { method: 'POST', headers: form, body: `token=${token}` })
    }

    // 2. verification
    const jwks = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as JSONWebKeySet
    const localKeys = createLocalJWKSet(jwks)
    const bare = (token: string) =>
      jwtVerify(token, localKeys, { issuer, audience: AUDIENCE, typ: 'at+jwt', algorithms: ['ES256'] })
    const verifier = createVerifier({ issuer, audience: AUDIENCE, algorithms: ['ES256'] })
    await new Promise((r) => setTimeout(r, 1100)) // the feed snapshot is re-read at most once a second
    await verifier.refreshRevocations()
    await verifier.ready()
    const revokedEntries = verifier.status().revocations?.tokens ?? 0
    if (revokedEntries < 100) throw new Error(`the verifier holds ${revokedEntries} revoked tokens, expected 100`)
    await measure(bare, tokens, 1, settings.concurrency) // warm-up of both paths
    await measure(verifier.verify, tokens, 1, settings.concurrency)
    const rounds: Array<{ jose: number; verifier: number }> = []
    for (let r = 0; r < settings.rounds; r++) {
      const jose = await measure(bare, tokens, settings.verifySeconds, settings.concurrency)
      const ours = await measure(verifier.verify, tokens, settings.verifySeconds, settings.concurrency)
      rounds.push({ jose: Math.round(jose), verifier: Math.round(ours) })
    }
    verifier.close()
    const joseTotal = rounds.reduce((s, r) => s + r.jose, 0)
    const verifierTotal = rounds.reduce((s, r) => s + r.verifier, 0)
    const ratio = verifierTotal / joseTotal

    // 3. the feed's conditional GETs
    const feed = await fetch(`${issuer}/oauth/revocations`)
    const etag = feed.headers.get('etag') ?? ''
    await autocannon({
      url: `${issuer}/oauth/revocations`,
      headers: { 'if-none-match': etag },
      connections: settings.connections,
      duration: 2,
    })
    const result = await autocannon({
      url: `${issuer}/oauth/revocations`,
      headers: { 'if-none-match': etag },
      connections: settings.connections,
      duration: settings.durationSeconds,
    })
    const notModified = result.statusCodeStats['304']?.count ?? 0
    const otherStatuses = Object.entries(result.statusCodeStats).filter(([code]) => code !== '304')
    const perSecond = Math.round(notModified / settings.durationSeconds)
    // Calibration under the same load: the JWKS route's 304, the cheapest answer Latchkey has.
    const jwksEtag = (await fetch(`${issuer}/.well-known/jwks.json`)).headers.get('etag') ?? ''
    const jwks304 = await autocannon({
      url: `${issuer}/.well-known/jwks.json`,
      headers: { 'if-none-match': jwksEtag },
      connections: settings.connections,
      duration: settings.durationSeconds,
    })
    const jwksPerSecond = Math.round((jwks304.statusCodeStats['304']?.count ?? 0) / settings.durationSeconds)

    const results = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      settings,
      verification: { rounds, joseTotal, verifierTotal, ratio: Number(ratio.toFixed(3)), bar: 0.9, pass: ratio >= 0.9 },
      revocationFeed: {
        conditionalGetsPerSecond: perSecond,
        p99Ms: result.latency.p99,
        otherStatuses: Object.fromEntries(otherStatuses.map(([c, v]) => [c, v.count])),
        errors: result.errors + result.timeouts,
        bar: 20_000,
        pass: perSecond >= 20_000 && otherStatuses.length === 0,
        jwks304PerSecondSameRun: jwksPerSecond,
      },
    }
    console.log(JSON.stringify(results, null, 2))
    await writeFile(path.join(repoRoot, 'bench', 'verifier-results.json'), `${JSON.stringify(results, null, 2)}\n`)
  } finally {
    server.kill('SIGTERM')
    await new Promise((r) => server.once('exit', r))
    await rm(dataDir, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exitCode = 1
})
