import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { loadConfig, type Config, type DatabaseConfig } from '../../server/config.js'
import type { Deps } from '../../server/deps.js'
import { createLogger } from '../../server/logger.js'
import { assemble } from '../../server/main.js'
import { createClient, type ClientRegistration } from '../../server/clients/create-client.js'
import { createTestClock, type TestClock } from './test-clock.js'
import { provisionDatabase, testDirOf, type Dialect, type Tap } from './test-database.js'

export interface TestAppOptions {
  dialect?: Dialect
  /** Reuse a database (restart and multi-instance tests); otherwise a fresh one is made. */
  database?: DatabaseConfig
  dataDir?: string
  env?: Record<string, string>
  clock?: TestClock
  /** Collects log lines, to assert what is (not) logged. */
  logLines?: string[]
}

export interface TestApp {
  app: FastifyInstance
  deps: Deps
  config: Config
  clock: TestClock
  database: DatabaseConfig
  dataDir: string
  close(): Promise<void>
}

/** The real app on a real database, built as main.ts builds it; closed at teardown. */
export async function buildTestApp(t: Tap, options: TestAppOptions = {}): Promise<TestApp> {
  const dataDir = options.dataDir ?? testDirOf(t)
  const database = options.database ?? (await provisionDatabase(t, options.dialect ?? 'sqlite', dataDir))
  // Test files run in parallel on a shared, starved CPU, where a whole second can pass without this
  // process being scheduled: the overload check (http/overload.ts) is off unless a test turns it on.
  const env = { LATCHKEY_DATA_DIR: dataDir, LOG_LEVEL: 'info', LATCHKEY_MAX_EVENT_LOOP_DELAY_MS: '0', ...options.env }
  const config = { ...loadConfig(env), database }
  const clock = options.clock ?? createTestClock()
  const lines = options.logLines
  const log = lines
    ? createLogger('info', { write: (line: string) => void lines.push(line) })
    : createLogger('silent', pino.destination('/dev/null'))
  const latchkey = await assemble(Object.freeze(config), log, clock)
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await latchkey.close()
  }
  t.teardown(close)
  return { app: latchkey.app, deps: latchkey.deps, config, clock, database, dataDir, close }
}

export interface TestClient {
  id: string
  secret: string
  /** Authorization header value for client_secret_basic. */
  basic: string
}

/** Registers a confidential client through the code the CLI uses. */
export async function registerClient(
  testApp: TestApp,
  overrides: Partial<ClientRegistration> = {},
): Promise<TestClient> {
  const { client, secret } = await createClient(testApp.deps, {
    name: 'test client',
    type: 'confidential',
    grantTypes: ['client_credentials'],
    scopes: ['notes:read', 'notes:write'],
    audiences: ['https://api.example.com'],
    redirectUris: [],
    ...overrides,
  })
  const id = client.id
  return {
    id,
    secret: secret ?? '',
    basic: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret ?? '')}`).toString('base64')}`,
  }
}
