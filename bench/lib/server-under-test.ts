// A server under test: a node child process on a free loopback port, ready when it says so, with
// the pid that serves the port (for its CPU and RSS) and the requests it answers. Adding one to a
// comparison is one file exporting a ServerUnderTest, plus its entry in the bench's list.
import { spawnNode, stopChild, waitFor, type ChildHandle, type StopResult } from './child-process.js'
import { loadPhase, type LoadRequest, type LoadStats } from './autocannon-run.js'
import { measureQuietly } from './cpu-accounting.js'
import { listeningPid } from './listening-pid.js'
import type { BenchSettings } from './settings.js'

export interface RunningServer {
  name: string
  origin: string
  port: number
  process: ChildHandle
  /** The process holding the listening socket: the node server itself, not a wrapper. */
  servingPid: number
  /** SIGTERM (SIGKILL after 10 s), then the server's own clean-up; the first call's result. */
  stop: () => Promise<StopResult>
}

/** Named requests a comparison loads with autocannon, e.g. `token` and `jwks`. */
export type Workloads<Names extends string> = Record<Names, LoadRequest>

export interface ServerUnderTest<Server extends RunningServer = RunningServer> {
  name: string
  start: (settings: BenchSettings) => Promise<Server>
}

export interface NodeServerOptions {
  name: string
  /** node's arguments: flags, then the script and its arguments. */
  args: string[]
  env: NodeJS.ProcessEnv
  port: number
  /** What "ready" looks like: checked every 100 ms until it holds. */
  ready: { what: string; check: (handle: ChildHandle, origin: string) => Promise<boolean> }
  /** Runs after the process has exited (e.g. removing a data dir). */
  cleanup?: () => Promise<void>
}

export async function startNodeServer(options: NodeServerOptions): Promise<RunningServer> {
  const origin = `http://127.0.0.1:${options.port}`
  const handle = spawnNode(options.args, options.env)
  let stopping: Promise<StopResult> | null = null
  const stop = () =>
    (stopping ??= stopChild(handle).then(async (result) => {
      await options.cleanup?.()
      return result
    }))
  try {
    await waitFor(handle, options.ready.what, () => options.ready.check(handle, origin))
    const servingPid = (await listeningPid(handle.pid, options.port)) ?? handle.pid
    return { name: options.name, origin, port: options.port, process: handle, servingPid, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

/** Ready once GET `path` answers 200. */
export function answers200(path: string): NodeServerOptions['ready'] {
  return {
    what: `GET ${path} answered 200`,
    check: async (_handle, origin) => (await fetch(`${origin}${path}`)).status === 200,
  }
}

/** Ready once the server printed `line` on a line of its own. */
export function printed(line: string): NodeServerOptions['ready'] {
  const pattern = new RegExp(`^${line}$`, 'm')
  return { what: `the server printed "${line}"`, check: async (handle) => pattern.test(handle.output()) }
}

/**
 * One workload measured: `settings.warmupSeconds` of warm-up not counted, then
 * `settings.durationSeconds` at `settings.connections`, again while other processes disturbed it.
 */
export async function measureWorkload(
  server: RunningServer,
  request: LoadRequest,
  label: string,
  settings: BenchSettings,
): Promise<LoadStats & { attempts: number }> {
  const phase = (seconds: number, what: string) => {
    process.stderr.write(`  ${server.name}: ${what} (${seconds} s, ${settings.connections} connections)\n`)
    return loadPhase(request, {
      seconds,
      connections: settings.connections,
      serverPid: server.servingPid,
      what: `${server.name} ${what}`,
      serverOutput: server.process.output,
    })
  }
  if (settings.warmupSeconds > 0) await phase(settings.warmupSeconds, `warm-up, ${label}`)
  return measureQuietly(settings, () => phase(settings.durationSeconds, label))
}
