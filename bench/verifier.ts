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
//      the JWKS's 304 under the same load, and calibration (a) (Fastify hello-world JSON,
//      bench/calibration/hello.ts): the bar is feed 304s ≥ 0.85 × (a)

import autocannon from 'autocannon'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'
import { createVerifier } from '@latchkey/verifier'
import { BenchError } from './lib/bench-error.js'
import { startCalibration } from './lib/calibration.js'
import { clientCredentialsRequest, requestAccessToken } from './lib/client-credentials.js'
import { prepareLatchkey } from './lib/latchkey.js'
import { repeatFor, repeatTimes } from './lib/repeat.js'
import { runFacts, writeResults } from './lib/results-file.js'
import { runBench } from './lib/run-bench.js'

const AUDIENCE = 'https://api.example.com'

await runBench({ defaults: { verifySeconds: 3 } }, async (benchSettings) => {
  const settings = {
    tokens: benchSettings.tokens,
    verifySeconds: benchSettings.verifySeconds,
    rounds: benchSettings.rounds,
    concurrency: benchSettings.verifyConcurrency,
    durationSeconds: benchSettings.durationSeconds,
    connections: benchSettings.connections,
  }
  const latchkey = await prepareLatchkey(benchSettings, { from: 'source', env: { LATCHKEY_RATE_LIMITS: 'false' } })
  const issuer = latchkey.origin
  try {
    const created = await latchkey.cliJson<{ client_id: string; client_secret: string }>(
      // prettier-ignore
      ['clients', 'create', '--name', 'bench', '--grant', 'client_credentials', '--scope', 'notes:read', '--audience', AUDIENCE, '--json'],
    )
    await latchkey.serve()
    const tokenRequest = clientCredentialsRequest(`${issuer}/oauth/token`, created)
    const form = tokenRequest.headers!
    const issue = () => requestAccessToken('latchkey', tokenRequest, 'notes:read')
    const tokens = await repeatTimes(settings.tokens, 1, issue)
    // Revoke 100 others so the feed, and the verifier's revocation check, are not empty.
    await repeatTimes(100, 1, async () => {
      const res = await fetch(`${issuer}/oauth/revoke`, {
        method: 'POST',
        headers: form,
        body: `token=${await issue()}`,
      })
      if (res.status !== 200) throw new BenchError(`POST /oauth/revoke answered ${res.status}`)
    })

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
    if (revokedEntries < 100) throw new BenchError(`the verifier holds ${revokedEntries} revoked tokens, expected 100`)
    // Verifications per second over `seconds`, `concurrency` in flight, cycling through the tokens.
    const measure = async (verify: (token: string) => Promise<unknown>, seconds: number) =>
      (await repeatFor(seconds, settings.concurrency, (i) => verify(tokens[i % tokens.length]!))).perSecond
    await measure(bare, 1) // warm-up of both paths
    await measure(verifier.verify, 1)
    const rounds: Array<{ jose: number; verifier: number }> = []
    for (let r = 0; r < settings.rounds; r++) {
      const jose = await measure(bare, settings.verifySeconds)
      const ours = await measure(verifier.verify, settings.verifySeconds)
      rounds.push({ jose: Math.round(jose), verifier: Math.round(ours) })
    }
    verifier.close()
    const joseTotal = rounds.reduce((s, r) => s + r.jose, 0)
    const verifierTotal = rounds.reduce((s, r) => s + r.verifier, 0)
    const ratio = verifierTotal / joseTotal

    // 3. the feed's conditional GETs
    const feed = await fetch(`${issuer}/oauth/revocations`)
    const etag = feed.headers.get('etag') ?? ''
    if (benchSettings.warmupSeconds > 0)
      await autocannon({
        url: `${issuer}/oauth/revocations`,
        headers: { 'if-none-match': etag },
        connections: settings.connections,
        duration: benchSettings.warmupSeconds,
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
    // Calibration (a), the bar's reference: Fastify's hello-world JSON under the same load.
    const hello = await startCalibration('hello')
    const helloPerSecond = await autocannon({
      url: `${hello.origin}/`,
      connections: settings.connections,
      duration: settings.durationSeconds,
    })
      .then((run) => Math.round((run.statusCodeStats['200']?.count ?? 0) / settings.durationSeconds))
      .finally(() => hello.stop())
    const feedRatio = perSecond / helloPerSecond

    const results = {
      ...runFacts(),
      settings,
      verification: { rounds, joseTotal, verifierTotal, ratio: Number(ratio.toFixed(3)), bar: 0.9, pass: ratio >= 0.9 },
      revocationFeed: {
        conditionalGetsPerSecond: perSecond,
        p99Ms: result.latency.p99,
        otherStatuses: Object.fromEntries(otherStatuses.map(([c, v]) => [c, v.count])),
        errors: result.errors + result.timeouts,
        calibrationHelloPerSecond: helloPerSecond,
        ratioToCalibration: Number(feedRatio.toFixed(2)),
        bar: '≥ 0.85 × Fastify hello-world JSON (a), same run',
        pass: feedRatio >= 0.85 && otherStatuses.length === 0,
        jwks304PerSecondSameRun: jwksPerSecond,
      },
    }
    console.log(JSON.stringify(results, null, 2))
    console.log(
      `${results.revocationFeed.pass ? 'HOLDS ' : 'MISSED'}  revocation-feed 304s >= 0.85 x Fastify hello-world (a) (${perSecond}/s vs ${helloPerSecond}/s: ${feedRatio.toFixed(2)}x)`,
    )
    await writeResults('verifier-results.json', results)
  } finally {
    await latchkey.close()
  }
})
