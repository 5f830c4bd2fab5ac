// POST /auth/password-reset: a known and an unknown address must not be told apart by timing
// (issue 4's bar: known p99 within 5 ms of unknown p99 under 20 connections).
//
// One `latchkey serve` child process on a fresh SQLite data dir, LOG_LEVEL=warn,
// LATCHKEY_RATE_LIMITS=false (autocannon sends everything from one address), SMTP_URL pointing at
// a real SMTP server in this process, so the outbox worker sends the known addresses' mails during
// the run, as it would in production. Set-up registers KNOWN accounts with cheap argon2 parameters
// (the reset path never hashes). Then two autocannon runs at once, 10 connections each (20 in all),
// one cycling over the known addresses and one over as many unknown ones, so both see the same
// machine at the same moments and the same per-account limit (3 mails per address per 15 min).
import autocannon from 'autocannon'
import { SMTPServer } from 'smtp-server'
import { summary } from './lib/autocannon-run.js'
import { BenchError } from './lib/bench-error.js'
import { freePort } from './lib/free-port.js'
import { prepareLatchkey } from './lib/latchkey.js'
import { repeatTimes } from './lib/repeat.js'
import { runFacts, writeResults } from './lib/results-file.js'
import { runBench } from './lib/run-bench.js'
import type { BenchSettings } from './lib/settings.js'

const PASSWORD = 'a benchmark passphrase 2026'

function resetRun(settings: BenchSettings, base: string, addresses: (i: number) => string) {
  let next = 0
  return autocannon({
    url: base,
    connections: 10,
    duration: settings.durationSeconds,
    requests: [
      {
        method: 'POST',
        path: '/auth/password-reset',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({
          ...request,
          body: JSON.stringify({ email: addresses(next++ % settings.knownAccounts) }),
        }),
      },
    ],
  })
}

await runBench({}, async (settings) => {
  const KNOWN = settings.knownAccounts
  let delivered = 0
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      stream.on('data', () => {})
      stream.on('end', () => {
        delivered++
        callback()
      })
    },
  })
  const smtpPort = await freePort()
  const latchkey = await prepareLatchkey(settings, {
    from: 'dist',
    env: {
      LATCHKEY_RATE_LIMITS: 'false',
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      LATCHKEY_ARGON2_MEMORY_KIB: '8192',
      LATCHKEY_ARGON2_TIME_COST: '1',
    },
  })
  const results: Record<string, unknown> = {
    ...runFacts(),
    durationSeconds: settings.durationSeconds,
    knownAccounts: KNOWN,
  }
  try {
    await new Promise<void>((resolve) => smtp.listen(smtpPort, '127.0.0.1', () => resolve()))
    const base = (await latchkey.serve()).origin
    await repeatTimes(KNOWN, 8, async (i) => {
      const res = await fetch(`${base}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: `known${i}@example.com`, password: PASSWORD }),
      })
      if (res.status !== 202) throw new BenchError(`register failed: ${res.status}`)
    })
    // Let the verification mails of set-up drain so they do not load only the first seconds.
    for (let i = 0; i < 600 && delivered < KNOWN; i++) await new Promise((r) => setTimeout(r, 100))
    const sentBefore = delivered

    // Warm-up, not counted.
    if (settings.warmupSeconds > 0)
      await autocannon({
        url: `${base}/auth/password-reset`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'warm@example.org' }),
        connections: 10,
        duration: settings.warmupSeconds,
      })
    const [known, unknown] = await Promise.all([
      resetRun(settings, base, (i) => `known${i}@example.com`),
      resetRun(settings, base, (i) => `unknown${i}@example.com`),
    ])
    const k = summary(known)
    const u = summary(unknown)
    results.known = k
    results.unknown = u
    results.p99DifferenceMs = Number((k.p99Ms - u.p99Ms).toFixed(2))
    results.bar = 'known p99 within 5 ms of unknown p99, 20 connections (10 + 10 at once)'
    results.mailsSentDuringRun = delivered - sentBefore
  } finally {
    await latchkey.close()
    smtp.close()
  }
  await writeResults('password-reset-results.json', results)
  const k = results.known as ReturnType<typeof summary>
  const u = results.unknown as ReturnType<typeof summary>
  console.log(
    `known:   ${k.requestsPerSecond}/s p50 ${k.p50Ms} ms p99 ${k.p99Ms} ms (non-2xx ${k.non2xx}, errors ${k.errors})`,
  )
  console.log(
    `unknown: ${u.requestsPerSecond}/s p50 ${u.p50Ms} ms p99 ${u.p99Ms} ms (non-2xx ${u.non2xx}, errors ${u.errors})`,
  )
  console.log(
    `p99 difference: ${String(results.p99DifferenceMs)} ms (bar: |difference| ≤ 5 ms); mails sent during the run: ${String(results.mailsSentDuringRun)}`,
  )
  if (k.non2xx > 0 || u.non2xx > 0 || k.errors > 0 || u.errors > 0) process.exitCode = 1
  if (Math.abs(results.p99DifferenceMs as number) > 5) process.exitCode = 1
})
