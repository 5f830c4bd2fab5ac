// Accounts and sessions under load (issue 3's bars). See bench/README.md.
//
// One Latchkey child process on a fresh SQLite data dir, LOG_LEVEL=warn and LATCHKEY_RATE_LIMITS=false
// (autocannon sends everything from one address; the per-IP limiter would answer 429 after ten
// logins). Measured in one run, one after another:
//   1. calibration (e): raw argon2id verify throughput in this process with the fastest maintained
//      implementation (@node-rs/argon2, which Latchkey uses), as many in flight as the server
//      allows; node-argon2 (built from source) beside it, for the record;
//   2. POST /auth/login throughput with the right password (the bar: ≥ 0.85 × (e));
//   3. POST /auth/refresh rotation at 50 connections, each rotating its own session's cookie, then
//      calibration (c) (bench/calibration/refresh.ts) under the same load (the bar: ≥ 0.75 × (c));
//   4. a saturating login flood (100 connections) while client_credentials and the JWKS are loaded
//      beside it (the bar: their p99 ≤ 50 ms, and no failure other than the flood's 503/429); each
//      load runs in its own worker thread, so the flood's client does not delay the others' clocks;
//   5. login timing, one request at a time: a known account with a wrong password against unknown
//      addresses (ASVS 6.3.8: the two must not be told apart by time), BENCH_TIMING_PAIRS
//      interleaved pairs compared by bench/lib/timing-comparison.ts (Mann–Whitney U, Cliff's delta,
//      bootstrap CI of the median difference).
import { hash as rsHash, verify as rsVerify } from '@node-rs/argon2'
import nodeArgon2 from 'argon2'
import autocannon from 'autocannon'
import { defaultHashingConcurrency } from '../server/users/password-hasher.js'
import { summary } from './lib/autocannon-run.js'
import { BenchError } from './lib/bench-error.js'
import { startCalibration } from './lib/calibration.js'
import { basicAuthorization } from './lib/client-credentials.js'
import { collectInterleavedPairs } from './lib/interleaved-timing.js'
import { createFreshPostgresDatabase } from './lib/fresh-postgres.js'
import { prepareLatchkey } from './lib/latchkey.js'
import { repeatFor } from './lib/repeat.js'
import { runFacts, writeResults } from './lib/results-file.js'
import { runBench } from './lib/run-bench.js'
import { compareTimings, describeComparison, type TimingComparison } from './lib/timing-comparison.js'

const PASSWORD = 'a benchmark passphrase 2026'

const OWASP = { memoryCost: 19456, timeCost: 2, parallelism: 1 }

/** Verifies per second, as many in flight as the server lets run at once (one per core but one). */
async function rawArgon2(seconds: number, implementation: '@node-rs/argon2' | 'argon2'): Promise<number> {
  const verify =
    implementation === 'argon2'
      ? await nodeArgon2
          .hash(PASSWORD, { type: nodeArgon2.argon2id, ...OWASP })
          .then((hash) => () => nodeArgon2.verify(hash, PASSWORD))
      : await rsHash(PASSWORD, { algorithm: 2, ...OWASP }).then((hash) => () => rsVerify(hash, PASSWORD))
  const { done } = await repeatFor(seconds, defaultHashingConcurrency(), verify)
  return Math.round(done / seconds)
}

/**
 * Refresh rotation at 50 connections on `origin`, from 50 live session cookies: autocannon resets a
 * connection's context after each pass over `requests`, so the cookies circulate through a shared
 * pool instead; each request takes one and puts its successor back.
 */
async function refreshLoad(origin: string, cookies: string[], headers: Record<string, string>, duration: number) {
  return summary(
    await autocannon({
      url: origin,
      connections: 50,
      duration,
      requests: [
        {
          method: 'POST',
          path: '/auth/refresh',
          setupRequest: (request) => ({ ...request, headers: { ...headers, cookie: cookies.pop() ?? '' } }),
          onResponse: (status, _body, _context, responseHeaders) => {
            // Raw header names keep the case the server wrote them in.
            const setCookie = Object.entries(responseHeaders).find(([name]) => name.toLowerCase() === 'set-cookie')?.[1]
            const first = Array.isArray(setCookie) ? setCookie[0] : setCookie
            if (status === 200 && first) cookies.push(first.split(';')[0]!)
          },
        },
      ],
    }),
  )
}

async function sessionCookies(url: string, init: RequestInit): Promise<string[]> {
  const cookies: string[] = []
  for (let i = 0; i < 50; i++) cookies.push((await fetch(url, init)).headers.getSetCookie()[0]!.split(';')[0]!)
  return cookies
}

await runBench({}, async (settings) => {
  const duration = settings.durationSeconds
  // SQLite unless BENCH_DATABASE_URL names a PostgreSQL server (the calibrations stay on SQLite).
  const postgres = settings.databaseUrl === '' ? null : await createFreshPostgresDatabase(settings.databaseUrl)
  const latchkey = await prepareLatchkey(settings, {
    from: 'dist',
    env: { LATCHKEY_RATE_LIMITS: 'false', ...(postgres ? { DATABASE_URL: postgres.url } : {}) },
  })
  const results: Record<string, unknown> = {
    ...runFacts(),
    database: postgres ? 'postgres' : 'sqlite',
    durationSeconds: duration,
  }
  try {
    const client = await latchkey.cliJson<{ client_id: string; client_secret: string }>(
      // prettier-ignore
      ['clients', 'create', '--name', 'bench', '--scope', 'notes:read', '--audience', 'https://api.example.com', '--json'],
    )
    const basic = basicAuthorization(client.client_id, client.client_secret)
    await latchkey.cli(['users', 'create', '--email', 'loadtest@example.com', '--password-stdin'], PASSWORD)
    const base = (await latchkey.serve()).origin
    const loginBody = JSON.stringify({ email: 'loadtest@example.com', password: PASSWORD })
    const browser = { origin: base, 'x-requested-with': 'latchkey' }
    // 1. raw argon2 and 2. login, back to back so both see the same machine.
    const raw = await rawArgon2(duration, '@node-rs/argon2')
    const login = summary(
      await autocannon({
        url: `${base}/auth/login`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: loginBody,
        // As many as the server hashes at once plus one waiting, so the hashing queue never runs
        // dry and never refuses: 503s are not logins, and (e) runs that many verifies in flight.
        connections: defaultHashingConcurrency() + 1,
        duration,
      }),
    )
    results.argon2VerifyPerSecond = raw
    results.nodeArgon2VerifyPerSecond = await rawArgon2(duration, 'argon2')
    results.login = {
      ...login,
      ratioToRawArgon2: Number((login.requestsPerSecond / raw).toFixed(2)),
      bar: 'login ≥ 0.85 × raw argon2 verify (e)',
    }

    // 3. refresh rotation: one session per connection, each chaining its own successor cookies;
    // then calibration (c) under the same load.
    const loginRequest = { method: 'POST', headers: { 'content-type': 'application/json' }, body: loginBody }
    const refresh = await refreshLoad(base, await sessionCookies(`${base}/auth/login`, loginRequest), browser, duration)
    const bare = await startCalibration('refresh')
    try {
      const bareCookies = await sessionCookies(`${bare.origin}/login`, { method: 'POST' })
      results.refreshCalibration = await refreshLoad(bare.origin, bareCookies, {}, duration)
    } finally {
      await bare.stop()
    }
    const bareRefresh = results.refreshCalibration as { requestsPerSecond: number }
    results.refresh = {
      ...refresh,
      ratioToCalibration: Number((refresh.requestsPerSecond / bareRefresh.requestsPerSecond).toFixed(2)),
      bar: postgres
        ? 'reported only: Latchkey on PostgreSQL against (c) on SQLite'
        : '≥ 0.75 × bare refresh rotation (c) at 50 connections on SQLite',
    }

    // 4. login flood beside client_credentials and JWKS traffic.
    const [flood, tokens, jwks] = await Promise.all([
      autocannon({
        url: `${base}/auth/login`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: loginBody,
        connections: 100,
        duration,
        workers: 1,
      }),
      autocannon({
        url: `${base}/oauth/token`,
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
        body: 'grant_type=client_credentials',
        connections: 10,
        duration,
        workers: 1,
      }),
      autocannon({ url: `${base}/.well-known/jwks.json`, connections: 10, duration, workers: 1 }),
    ])
    results.flood = {
      login: summary(flood),
      clientCredentials: summary(tokens),
      jwks: summary(jwks),
      bar: 'client_credentials and JWKS p99 ≤ 50 ms; only the flood sees 503/429',
    }

    // 5. Known account with a wrong password vs unknown addresses, interleaved one at a time. The
    // known account signs in correctly after every fourth pair, so back-off never engages.
    const attempt = async (email: string, password: string, expected: number): Promise<number> => {
      const started = performance.now()
      const res = await fetch(`${base}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
      })
      await res.arrayBuffer()
      // The flood's queued hashing may still be draining: wait for it rather than time a 503.
      if (res.status === 503) {
        await new Promise((r) => setTimeout(r, 100))
        return attempt(email, password, expected)
      }
      if (res.status !== expected) throw new BenchError(`timing phase expected ${expected}, got ${res.status}`)
      return performance.now() - started
    }
    const wrong = 'not the right passphrase'
    const timings = await collectInterleavedPairs(
      settings.timingPairs,
      () => attempt('loadtest@example.com', wrong, 401),
      (i) => attempt(`nobody-${i}-${Math.random().toString(36).slice(2)}@example.com`, wrong, 401),
      async (i) => {
        if (i % 4 === 3) await attempt('loadtest@example.com', PASSWORD, 200)
      },
    )
    results.loginTiming = {
      ...compareTimings(timings.a, timings.b, { toleranceMs: settings.timingToleranceMs }),
      a: 'known account, wrong password',
      b: 'unknown email',
      note: `${settings.timingPairs} interleaved pairs, one request at a time, order within each pair random`,
    }
  } finally {
    await latchkey.close()
    await postgres?.drop()
  }
  await writeResults(postgres ? 'accounts-postgres-results.json' : 'accounts-results.json', results)
  const login = results.login as { requestsPerSecond: number; p99Ms: number; non2xx: number; ratioToRawArgon2: number }
  const refresh = results.refresh as {
    requestsPerSecond: number
    p99Ms: number
    non2xx: number
    ratioToCalibration: number
  }
  const bareRefresh = results.refreshCalibration as { requestsPerSecond: number; p99Ms: number }
  const flood = results.flood as Record<
    string,
    { requestsPerSecond: number; p99Ms: number; non2xx: number; errors: number; statusCodes: Record<string, number> }
  >
  console.log(
    `calibration (e) argon2id verify, @node-rs/argon2 (${defaultHashingConcurrency()} in flight, as the server): ${String(results.argon2VerifyPerSecond)}/s; node-argon2 from source: ${String(results.nodeArgon2VerifyPerSecond)}/s`,
  )
  console.log(`database: ${String(results.database)}`)
  console.log(`calibration (c) bare refresh rotation: ${bareRefresh.requestsPerSecond}/s, p99 ${bareRefresh.p99Ms} ms`)
  console.log(
    `${login.ratioToRawArgon2 >= 0.85 && login.non2xx === 0 ? 'HOLDS ' : 'MISSED'}  login >= 0.85 x (e) (${login.requestsPerSecond}/s, p99 ${login.p99Ms} ms, non-2xx ${login.non2xx}: ${login.ratioToRawArgon2}x)`,
  )
  console.log(
    `${refresh.ratioToCalibration >= 0.75 && refresh.non2xx === 0 ? 'HOLDS ' : 'MISSED'}  refresh rotation >= 0.75 x (c) (${refresh.requestsPerSecond}/s, p99 ${refresh.p99Ms} ms, non-2xx ${refresh.non2xx}: ${refresh.ratioToCalibration}x)`,
  )
  for (const name of ['clientCredentials', 'jwks'] as const) {
    const r = flood[name]!
    console.log(
      `during login flood, ${name}: ${r.requestsPerSecond}/s, p99 ${r.p99Ms} ms, non-2xx ${r.non2xx}, errors ${r.errors} ${r.requestsPerSecond > 0 && r.p99Ms <= 50 && r.non2xx === 0 && r.errors === 0 ? 'PASS' : 'MISS'}`,
    )
  }
  console.log(`flood itself: ${JSON.stringify(flood.login!.statusCodes)}`)
  const timing = results.loginTiming as TimingComparison
  console.log(describeComparison('login timing, known account + wrong password vs unknown email', timing))
  if (!timing.holds) process.exitCode = 1
})
