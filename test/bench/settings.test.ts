import t from 'tap'
import { repoRoot } from '../../bench/lib/paths.js'
import { BenchSettingsError, loadBenchSettings } from '../../bench/lib/settings.js'

const problemsOf = (options: Parameters<typeof loadBenchSettings>[0]): string[] => {
  try {
    loadBenchSettings(options)
  } catch (error) {
    if (error instanceof BenchSettingsError) return error.problems
    throw error
  }
  return []
}

t.test('no setting gives the documented defaults, frozen', async (t) => {
  const settings = loadBenchSettings({ env: {}, argv: [] })
  t.same(settings, {
    durationSeconds: 10,
    warmupSeconds: 2,
    connections: 50,
    tokens: 2000,
    verifySeconds: 5,
    verifyConcurrency: 32,
    rounds: 3,
    maxAttempts: 3,
    knownAccounts: 3000,
    timingPairs: 2000,
    timingToleranceMs: 2,
    oidcLoader: 'transpile',
    peers: 'run',
    latchkeyRoot: repoRoot,
    offeredRate: 300,
    instanceCounts: '1,2,3',
    databaseUrl: '',
    serverNodeArgs: '',
  })
  t.ok(Object.isFrozen(settings))
})

t.test("a bench's own defaults replace the shared ones, and the environment still wins", async (t) => {
  t.equal(loadBenchSettings({ env: {}, argv: [], defaults: { connections: 20 } }).connections, 20)
  t.equal(
    loadBenchSettings({ env: { BENCH_CONNECTIONS: '8' }, argv: [], defaults: { connections: 20 } }).connections,
    8,
  )
})

t.test('variables and flags are read, a flag wins over its variable, blank means unset', async (t) => {
  const settings = loadBenchSettings({
    env: { BENCH_DURATION: '3', BENCH_VERIFY_DURATION: '0.5', BENCH_WARMUP: ' ', BENCH_OIDC_LOADER: 'tsx' },
    argv: ['--duration', '1.5', '--verify-concurrency=4', '--only', 'b'],
    serverNames: ['a', 'b'],
  })
  t.match(settings, {
    durationSeconds: 1.5,
    verifySeconds: 0.5,
    warmupSeconds: 2,
    verifyConcurrency: 4,
    oidcLoader: 'tsx',
    only: 'b',
  })
})

t.test('every bad setting is reported at once, named as it was given', async (t) => {
  t.same(
    problemsOf({
      env: {
        BENCH_DURATION: '0',
        BENCH_CONNECTIONS: '2.5',
        BENCH_OIDC_LOADER: 'bun',
        BENCH_TOKENS: 'many',
        BENCH_PEERS: 'maybe',
      },
      argv: ['--warmup', '-1', '--bogus', 'x', '--rounds'],
      serverNames: ['latchkey', 'oidc-provider'],
    }),
    [
      '--bogus is not a bench setting',
      '--rounds needs a value',
      'BENCH_DURATION: expected number to be greater or equal to 1 (got "0")',
      '--warmup: expected number to be greater or equal to 0 (got "-1")',
      'BENCH_CONNECTIONS: expected integer (got "2.5")',
      'BENCH_TOKENS: expected integer (got "many")',
      'BENCH_OIDC_LOADER: must be one of transpile, tsx (got "bun")',
      'BENCH_PEERS: must be one of run, skip (got "maybe")',
    ],
  )
})

t.test('BENCH_ONLY must name a server of the bench, and is ignored by a bench without a choice', async (t) => {
  t.same(problemsOf({ env: { BENCH_ONLY: 'keycloak' }, argv: [], serverNames: ['latchkey', 'oidc-provider'] }), [
    'BENCH_ONLY: must be one of latchkey, oidc-provider (got "keycloak")',
  ])
  t.same(problemsOf({ env: { BENCH_ONLY: 'oidc-provider' }, argv: [] }), [])
})
