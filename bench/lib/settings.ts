// Every bench setting, validated like the server's config: one TypeBox schema with defaults, read
// from BENCH_* environment variables or the matching flags (BENCH_VERIFY_DURATION=3 or
// --verify-duration 3; a flag wins), every bad setting reported at once, a frozen object returned.
import { parseArgs } from 'node:util'
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { repoRoot } from './paths.js'

const settingsSchema = Type.Object({
  durationSeconds: Type.Number({
    minimum: 1,
    default: 10,
    env: 'BENCH_DURATION',
    description: 'seconds per load phase',
  }),
  warmupSeconds: Type.Number({
    minimum: 0,
    default: 2,
    env: 'BENCH_WARMUP',
    description: 'warm-up seconds before a load phase (0 = none)',
  }),
  connections: Type.Integer({
    minimum: 1,
    default: 50,
    env: 'BENCH_CONNECTIONS',
    description: 'autocannon connections',
  }),
  tokens: Type.Integer({
    minimum: 1,
    default: 2000,
    env: 'BENCH_TOKENS',
    description: 'tokens collected for verification',
  }),
  verifySeconds: Type.Number({
    minimum: 0.5,
    default: 5,
    env: 'BENCH_VERIFY_DURATION',
    description: 'seconds of in-process verification',
  }),
  verifyConcurrency: Type.Integer({
    minimum: 1,
    default: 32,
    env: 'BENCH_VERIFY_CONCURRENCY',
    description: 'verifications in flight',
  }),
  rounds: Type.Integer({ minimum: 1, default: 3, env: 'BENCH_ROUNDS', description: 'alternating verification rounds' }),
  maxAttempts: Type.Integer({
    minimum: 1,
    default: 3,
    env: 'BENCH_MAX_ATTEMPTS',
    description: 'tries per phase while other processes disturb it',
  }),
  knownAccounts: Type.Integer({
    minimum: 1,
    default: 3000,
    env: 'BENCH_KNOWN_ACCOUNTS',
    description: 'accounts registered for the password-reset timing',
  }),
  timingPairs: Type.Integer({
    minimum: 20,
    default: 2000,
    env: 'BENCH_TIMING_PAIRS',
    description: 'interleaved pairs for a timing comparison (known vs unknown account)',
  }),
  timingToleranceMs: Type.Number({
    minimum: 0,
    default: 2,
    env: 'BENCH_TIMING_TOLERANCE_MS',
    description:
      "largest median difference (95 % CI) a timing comparison may HOLD with, with a negligible Cliff's delta",
  }),
  only: Type.Optional(Type.String({ env: 'BENCH_ONLY', description: 'the one server under test to run' })),
  oidcLoader: Type.Union([Type.Literal('transpile'), Type.Literal('tsx')], {
    default: 'transpile',
    env: 'BENCH_OIDC_LOADER',
    description: 'how the oidc-provider server runs',
  }),
  peers: Type.Union([Type.Literal('run'), Type.Literal('skip')], {
    default: 'run',
    env: 'BENCH_PEERS',
    description: 'run.ts: `run` installs the peers of bench/peers/ on demand and measures them, `skip` leaves them out',
  }),
  latchkeyRoot: Type.String({
    minLength: 1,
    default: repoRoot,
    env: 'BENCH_LATCHKEY_ROOT',
    description: 'Latchkey checkout whose dist/ is benchmarked',
  }),
  offeredRate: Type.Integer({
    minimum: 1,
    default: 300,
    env: 'BENCH_RATE',
    description: 'requests per second offered across all connections (bench:cluster)',
  }),
  instanceCounts: Type.String({
    pattern: '^[1-3](,[1-3])*$',
    default: '1,2,3',
    env: 'BENCH_INSTANCES',
    description: 'cluster sizes measured one after another (bench:cluster)',
  }),
  databaseUrl: Type.String({
    pattern: '^(postgres(ql)?://.*)?$',
    default: '',
    env: 'BENCH_DATABASE_URL',
    description:
      'accounts: a PostgreSQL server (postgres://…) to run Latchkey on, in a fresh database made there and dropped after; empty = SQLite',
  }),
  serverNodeArgs: Type.String({
    default: '',
    env: 'BENCH_SERVER_NODE_ARGS',
    description: "flags for Latchkey's node, e.g. --cpu-prof",
  }),
})

export type BenchSettings = Readonly<Static<typeof settingsSchema>>
type Key = keyof Static<typeof settingsSchema>

export class BenchSettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid bench settings:\n  ${problems.join('\n  ')}`)
    this.name = 'BenchSettingsError'
  }
}

interface LoadOptions {
  env?: Record<string, string | undefined>
  argv?: string[]
  /** This bench's own defaults where they differ from the shared ones (authorize: 20 connections). */
  defaults?: Partial<Static<typeof settingsSchema>>
  /** The names BENCH_ONLY may take; a bench without servers to choose from ignores it. */
  serverNames?: readonly string[]
}

const entries = Object.entries(settingsSchema.properties) as unknown as Array<[Key, TSchema & { env: string }]>
const flagOf = (env: string) =>
  env
    .replace(/^BENCH_/, '')
    .toLowerCase()
    .replaceAll('_', '-')

/** Reads and validates every setting; throws BenchSettingsError naming every bad one. */
export function loadBenchSettings({
  env = process.env,
  argv = process.argv.slice(2),
  defaults = {},
  serverNames = [],
}: LoadOptions = {}): BenchSettings {
  const problems: string[] = []
  const flags = parseArgs({
    args: argv,
    strict: false,
    options: Object.fromEntries(entries.map(([, schema]) => [flagOf(schema.env), { type: 'string' as const }])),
  }).values
  const known = new Set(entries.map(([, schema]) => flagOf(schema.env)))
  for (const [flag, value] of Object.entries(flags)) {
    if (!known.has(flag)) problems.push(`--${flag} is not a bench setting`)
    else if (typeof value !== 'string') problems.push(`--${flag} needs a value`)
  }

  const input: Record<string, unknown> = {}
  const source: Partial<Record<Key, string>> = {}
  for (const [key, schema] of entries) {
    const flag = flags[flagOf(schema.env)]
    const text = typeof flag === 'string' ? flag : env[schema.env]
    source[key] = typeof flag === 'string' ? `--${flagOf(schema.env)}` : schema.env
    if (text === undefined || text.trim() === '') {
      if (defaults[key] !== undefined) input[key] = defaults[key]
      continue
    }
    const trimmed = text.trim()
    // Numbers are converted here rather than by Value.Convert, which truncates "2.5" to an integer.
    const numeric = schema.type === 'number' || schema.type === 'integer'
    input[key] = numeric && /^-?\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : trimmed
  }
  const settings = Value.Default(settingsSchema, input) as Static<typeof settingsSchema>

  for (const error of Value.Errors(settingsSchema, settings)) {
    const key = error.path.slice(1) as Key
    const schema = settingsSchema.properties[key] as TSchema
    const allowed = schema.anyOf as Array<{ const: string }> | undefined
    const why = allowed ? `must be one of ${allowed.map((s) => s.const).join(', ')}` : error.message.toLowerCase()
    problems.push(`${source[key] ?? key}: ${why} (got "${String(error.value)}")`)
  }
  // `npm run bench` passes one environment to every bench: BENCH_ONLY=oidc-provider must not stop
  // the benches that run Latchkey alone.
  if (settings.only !== undefined && serverNames.length > 0 && !serverNames.includes(settings.only))
    problems.push(`${source.only}: must be one of ${serverNames.join(', ')} (got "${settings.only}")`)
  if (problems.length > 0) throw new BenchSettingsError(problems)
  return Object.freeze(settings)
}

/** One line per setting: flag, variable, default, meaning. */
export function describeBenchSettings(): string {
  return entries
    .map(([, schema]) => {
      const fallback = schema.default === undefined ? '' : ` (default ${JSON.stringify(schema.default)})`
      return `  --${flagOf(schema.env)} / ${schema.env}${fallback}: ${String(schema.description)}`
    })
    .join('\n')
}
