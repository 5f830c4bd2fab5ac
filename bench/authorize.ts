// The complete authorization-code round trip under load (issue 6's bar). See bench/README.md.
//
// One Latchkey child process (the built dist/, `npm run build` first) on a fresh SQLite data dir,
// LOG_LEVEL=warn and LATCHKEY_RATE_LIMITS=false. A first-party public client (no consent page) and
// one user; the user signs in once on the hosted page. Then BENCH_CONNECTIONS (20) workers, each on
// its own keep-alive connection, repeat for BENCH_DURATION seconds:
//   GET /oauth/authorize with the sign-in cookie → 302 with a code → POST /oauth/token
//   (authorization_code + PKCE, openid: access token, refresh token and ID token).
// A round trip counts only when both steps succeed; its latency is from the GET to the token body.
// Then calibration (d) (bench/calibration/authorization-code.ts) gets the same round trips; the bar:
// Latchkey ≥ 0.6 × (d).
// For scale on a shared machine, the same run also loads client_credentials (one signed token per
// request, no database write) with autocannon at the same connection count right afterwards.
import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import autocannon from 'autocannon'
import { BenchError } from './lib/bench-error.js'
import { startCalibration } from './lib/calibration.js'
import { clientCredentialsRequest } from './lib/client-credentials.js'
import { prepareLatchkey } from './lib/latchkey.js'
import { repeatFor } from './lib/repeat.js'
import { runFacts, writeResults } from './lib/results-file.js'
import { runBench } from './lib/run-bench.js'

const PASSWORD = 'a benchmark passphrase 2026'
const REDIRECT = 'https://app.example.com/callback'

interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

function send(
  agent: http.Agent,
  port: number,
  options: { method: string; path: string; headers: Record<string, string>; body?: string },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, agent, method: options.method, path: options.path, headers: options.headers },
      (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (body += chunk))
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }))
      },
    )
    request.on('error', reject)
    request.end(options.body)
  })
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

await runBench({ defaults: { connections: 20 } }, async (settings) => {
  const { durationSeconds: duration, connections, warmupSeconds: warmup } = settings
  const latchkey = await prepareLatchkey(settings, { from: 'dist', env: { LATCHKEY_RATE_LIMITS: 'false' } })
  const port = latchkey.port
  const results: Record<string, unknown> = {
    ...runFacts(),
    durationSeconds: duration,
    connections,
  }
  let r: { perSecond: number; p50Ms: number; p99Ms: number; failures: number; firstFailure: string | null }
  try {
    const client = await latchkey.cliJson<{ client_id: string }>(
      // prettier-ignore
      ['clients', 'create', '--name', 'bench app', '--public', '--first-party', '--scope', 'openid email', '--redirect-uri', REDIRECT, '--json'],
    )
    const machine = await latchkey.cliJson<{ client_id: string; client_secret: string }>(
      // prettier-ignore
      ['clients', 'create', '--name', 'reference', '--scope', 'notes:read', '--audience', 'https://api.example.com', '--json'],
    )
    await latchkey.cli(['users', 'create', '--email', 'loadtest@example.com', '--password-stdin'], PASSWORD)
    await latchkey.serve()
    const verifier = randomBytes(32).toString('base64url')
    const authorizePath = `/oauth/authorize?${new URLSearchParams({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scope: 'openid email',
      state: 'bench',
      nonce: 'bench',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    })}`
    // Sign in once on the hosted page, as a browser would.
    const agent = new http.Agent({ keepAlive: true, maxSockets: connections })
    const page = await send(agent, port, { method: 'GET', path: authorizePath, headers: {} })
    const csrfCookie = String(page.headers['set-cookie']?.[0]).split(';')[0]!
    // Attributes may be split over lines (the page's template is formatted by prettier).
    const field = (name: string) => {
      const match = new RegExp(`name="${name}"\\s+value="([^"]*)"`).exec(page.body)
      if (!match) throw new BenchError(`the hosted sign-in page has no ${name} field:\n${page.body}`)
      return match[1]!.replace(/&amp;/g, '&')
    }
    const csrf = field('csrf')
    const authorize = field('authorize')
    const signin = await send(agent, port, {
      method: 'POST',
      path: '/signin',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: csrfCookie },
      body: new URLSearchParams({ csrf, authorize, email: 'loadtest@example.com', password: PASSWORD }).toString(),
    })
    if (signin.status !== 303) throw new Error(`hosted sign-in failed: ${signin.status}`)
    const cookie = (signin.headers['set-cookie'] ?? [])
      .map((c) => c.split(';')[0])
      .find((c) => c!.startsWith('__Host-latchkey_signin='))!

    const roundTrip = async (target: { port: number; cookie: string }): Promise<number> => {
      const started = performance.now()
      const redirect = await send(agent, target.port, {
        method: 'GET',
        path: authorizePath,
        headers: { cookie: target.cookie },
      })
      const code = redirect.status === 302 ? new URL(String(redirect.headers.location)).searchParams.get('code') : null
      if (code === null) throw new Error(`authorize answered ${redirect.status}`)
      const token = await send(agent, target.port, {
        method: 'POST',
        path: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: REDIRECT,
          code_verifier: verifier,
          client_id: client.client_id,
        }).toString(),
      })
      if (token.status !== 200 || !token.body.includes('"id_token"'))
        throw new Error(`token answered ${token.status}: ${token.body}`)
      return performance.now() - started
    }

    const load = async (seconds: number, target = { port, cookie }) => {
      const latencies: number[] = []
      let failures = 0
      let firstFailure: string | null = null
      await repeatFor(seconds, connections, async () => {
        try {
          latencies.push(await roundTrip(target))
        } catch (error) {
          failures++
          firstFailure ??= String(error)
        }
      })
      latencies.sort((a, b) => a - b)
      return {
        roundTrips: latencies.length,
        failures,
        firstFailure,
        perSecond: Math.round(latencies.length / seconds),
        p50Ms: Number(percentile(latencies, 50).toFixed(1)),
        p99Ms: Number(percentile(latencies, 99).toFixed(1)),
      }
    }
    await load(warmup)
    const measured = await load(duration)
    // Calibration (d): the same round trips against bench/calibration/authorization-code.ts.
    const bareSignin = randomBytes(32).toString('base64url')
    const bare = await startCalibration('authorization-code', { SIGNIN: bareSignin })
    try {
      const target = { port: bare.port, cookie: `__Host-latchkey_signin=${bareSignin}` }
      await load(warmup, target)
      results.calibration = await load(duration, target)
    } finally {
      await bare.stop()
    }
    const calibration = results.calibration as { perSecond: number }
    results.authorizationCodeRoundTrip = {
      ...measured,
      ratioToCalibration: Number((measured.perSecond / calibration.perSecond).toFixed(2)),
      bar: '≥ 0.6 × the bare authorization-code round trip (d) at 20 connections',
    }
    r = measured
    agent.destroy()
    const reference = await autocannon({
      ...clientCredentialsRequest(`${latchkey.origin}/oauth/token`, machine),
      connections,
      duration,
    })
    results.referenceClientCredentials = {
      perSecond: Math.round(reference.requests.average),
      p99Ms: reference.latency.p99,
      non2xx: reference.non2xx,
    }
  } finally {
    await latchkey.close()
  }
  await writeResults('authorize-results.json', results)
  const bare = results.calibration as { perSecond: number; p50Ms: number; p99Ms: number; failures: number }
  const ratio = r.perSecond / bare.perSecond
  console.log(
    `calibration (d) bare authorization-code round trip: ${bare.perSecond}/s, p50 ${bare.p50Ms} ms, p99 ${bare.p99Ms} ms, failures ${bare.failures}`,
  )
  console.log(
    `${ratio >= 0.6 && r.failures === 0 ? 'HOLDS ' : 'MISSED'}  authorize → code → token >= 0.6 x (d) (${connections} connections, ${duration} s: ${r.perSecond}/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, failures ${r.failures}: ${ratio.toFixed(2)}x)`,
  )
  if (r.firstFailure) console.log(`first failure: ${r.firstFailure}`)
  const ref = results.referenceClientCredentials as { perSecond: number; p99Ms: number } | undefined
  if (ref)
    console.log(`for scale, client_credentials on the same server right after: ${ref.perSecond}/s, p99 ${ref.p99Ms} ms`)
})
