// POST /auth/password-reset: a known and an unknown address must not be told apart by timing
// (ASVS 6.3.8; issue 11: a statistical test on interleaved samples replaces issue 4's p99 bar).
//
// One `latchkey serve` child process on a fresh SQLite data dir, LOG_LEVEL=warn,
// LATCHKEY_RATE_LIMITS=false (everything comes from one address), SMTP_URL pointing at a real SMTP
// server in this process, so the outbox worker sends the known addresses' mails during the run, as
// it would in production. Set-up registers KNOWN accounts with cheap argon2 parameters (the reset
// path never hashes). Then BENCH_TIMING_PAIRS pairs, one request at a time, a known and an unknown
// address in random order within each pair, compared by bench/lib/timing-comparison.ts
// (Mann–Whitney U, Cliff's delta, bootstrap CI of the median difference).
import autocannon from 'autocannon'
import { SMTPServer } from 'smtp-server'
import { BenchError } from './lib/bench-error.js'
import { freePort } from './lib/free-port.js'
import { collectInterleavedPairs } from './lib/interleaved-timing.js'
import { prepareLatchkey } from './lib/latchkey.js'
import { repeatTimes } from './lib/repeat.js'
import { runFacts, writeResults } from './lib/results-file.js'
import { runBench } from './lib/run-bench.js'
import { compareTimings, describeComparison, type TimingComparison } from './lib/timing-comparison.js'

const PASSWORD = 'a benchmark passphrase 2026'

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
    knownAccounts: KNOWN,
    timingPairs: settings.timingPairs,
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
    const reset = async (email: string): Promise<number> => {
      const started = performance.now()
      const res = await fetch(`${base}/auth/password-reset`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email }),
      })
      await res.arrayBuffer()
      if (res.status !== 202) throw new BenchError(`password reset answered ${res.status}`)
      return performance.now() - started
    }
    const timings = await collectInterleavedPairs(
      settings.timingPairs,
      (i) => reset(`known${i % KNOWN}@example.com`),
      (i) => reset(`unknown${i}@example.com`),
    )
    results.timing = {
      ...compareTimings(timings.a, timings.b, { toleranceMs: settings.timingToleranceMs }),
      a: 'known address',
      b: 'unknown address',
      note: `${settings.timingPairs} interleaved pairs, one request at a time, order within each pair random`,
    }
    results.mailsSentDuringRun = delivered - sentBefore
  } finally {
    await latchkey.close()
    smtp.close()
  }
  await writeResults('password-reset-results.json', results)
  const timing = results.timing as TimingComparison
  console.log(describeComparison('password reset, known vs unknown address', timing))
  console.log(`mails sent during the run: ${String(results.mailsSentDuringRun)}`)
  if (!timing.holds) process.exitCode = 1
})
