// Latchkey for a bench: a fresh data dir on a free loopback port, its CLI (to create clients and
// users before it serves) and `serve` as a server under test.
import { mkdtemp, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { BenchError } from './bench-error.js'
import { runNode } from './child-process.js'
import { freePort } from './free-port.js'
import { repoRoot } from './paths.js'
import { answers200, startNodeServer, type RunningServer } from './server-under-test.js'
import type { BenchSettings } from './settings.js'

export interface LatchkeyOptions {
  /**
   * `dist`: the build in settings.latchkeyRoot (`npm run build` first), as production runs it.
   * `source`: server/cli/main.ts of this checkout through tsx, nothing to build.
   */
  from: 'dist' | 'source'
  /** More environment for every command and the server, e.g. LATCHKEY_RATE_LIMITS=false. */
  env?: Record<string, string>
}

export interface Latchkey {
  origin: string
  port: number
  /** Runs one CLI command to its end; its stdout. */
  cli: (args: string[], input?: string) => Promise<string>
  /** Runs one `--json` CLI command; the object it printed. */
  cliJson: <T>(args: string[], input?: string) => Promise<T>
  /** `serve` with settings.serverNodeArgs for its node, once /readyz answers 200. */
  serve: () => Promise<RunningServer>
  /** Stops the server if it runs and removes the data dir. */
  close: () => Promise<void>
}

/** The CLI's entry point: BENCH_LATCHKEY_ROOT's dist/, or this checkout's source. */
export function latchkeyEntry(settings: BenchSettings, from: LatchkeyOptions['from']): string {
  return from === 'dist'
    ? path.join(path.resolve(settings.latchkeyRoot), 'dist', 'server', 'cli', 'main.js')
    : path.join(repoRoot, 'server', 'cli', 'main.ts')
}

export async function prepareLatchkey(settings: BenchSettings, options: LatchkeyOptions): Promise<Latchkey> {
  const entry = latchkeyEntry(settings, options.from)
  const loader = options.from === 'dist' ? [] : ['--import', 'tsx']
  if (!existsSync(entry))
    throw new BenchError(`${entry} does not exist: run \`npm run build\` (or use \`npm run bench\`)`)
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-bench-'))
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    LATCHKEY_DATA_DIR: dataDir,
    LATCHKEY_ISSUER: origin,
    LOG_LEVEL: 'warn',
    ...options.env,
  }
  let server: RunningServer | null = null
  const cli = (args: string[], input?: string) => runNode([...loader, entry, ...args], env, input)
  return {
    origin,
    port,
    cli,
    cliJson: async <T>(args: string[], input?: string) => parseJsonObject(await cli(args, input)) as T,
    serve: async () => {
      const nodeArgs = settings.serverNodeArgs.split(' ').filter(Boolean)
      server = await startNodeServer({
        name: 'latchkey',
        args: [...nodeArgs, ...loader, entry, 'serve'],
        env,
        port,
        ready: answers200('/readyz'),
      })
      return server
    },
    close: async () => {
      await server?.stop()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

function parseJsonObject(text: string): Record<string, unknown> {
  // Tolerate log lines around the object: take the last line that parses as an object.
  for (const candidate of [text, ...text.trim().split('\n').reverse()]) {
    try {
      const value = JSON.parse(candidate) as unknown
      if (value && typeof value === 'object') return value as Record<string, unknown>
    } catch {
      // keep looking
    }
  }
  throw new BenchError(`expected one JSON object on stdout, got:\n${text}`)
}
