// Node child processes of a bench: servers (kept until stopped, their output kept for error
// messages) and one-shot commands. Every child still running is killed if the bench fails.
import { spawn, type ChildProcess } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { BenchError } from './bench-error.js'
import { repoRoot } from './paths.js'

interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface ChildHandle {
  child: ChildProcess
  pid: number
  exited: Promise<Exit>
  hasExited: () => boolean
  /** The last 20,000 characters of stdout and stderr together. */
  output: () => string
}

const running = new Set<ChildProcess>()

/** `node …args` with `env` as its whole environment; no shell or npm wrapper, so pid is node's. */
export function spawnNode(args: string[], env: NodeJS.ProcessEnv, input?: string): ChildHandle {
  const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['pipe', 'pipe', 'pipe'] })
  running.add(child)
  child.stdin.end(input)
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-20_000)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  let done = false
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true
      running.delete(child)
      resolve({ code, signal })
    })
  })
  return { child, pid: child.pid!, exited, hasExited: () => done, output: () => output }
}

/** Runs a command to its end; resolves with its stdout, rejects with its output on failure. */
export async function runNode(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<string> {
  const handle = spawnNode(args, env, input)
  let stdout = ''
  handle.child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
  const exit = await Promise.race([handle.exited, sleep(60_000).then(() => null)])
  if (exit?.code === 0) return stdout
  if (exit === null) handle.child.kill('SIGKILL')
  const shown = args.map((a) => (a.length > 80 ? `<${a.length} chars>` : a.includes(' ') ? `"${a}"` : a)).join(' ')
  throw new BenchError(
    `\`node ${shown}\` ${exit === null ? 'timed out after 60 s' : `exited with code ${exit.code}`}:\n${handle.output()}`,
  )
}

/** Polls `check` every 100 ms until it holds; fails early when the child exits. */
export async function waitFor(
  handle: ChildHandle,
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (handle.hasExited()) {
      const exit = await handle.exited
      throw new BenchError(
        `server exited (code ${exit.code}, signal ${exit.signal}) before ${what}. Output:\n${handle.output()}`,
      )
    }
    if (await check().catch(() => false)) return
    await sleep(100)
  }
  throw new BenchError(`timed out after ${timeoutMs} ms waiting for ${what}. Output:\n${handle.output()}`)
}

export interface StopResult {
  graceful: boolean
  exit: Exit
}

/** SIGTERM, then SIGKILL if the child has not exited within 10 s. */
export async function stopChild(handle: ChildHandle): Promise<StopResult> {
  if (handle.hasExited()) return { graceful: false, exit: await handle.exited }
  handle.child.kill('SIGTERM')
  const exit = await Promise.race([handle.exited, sleep(10_000).then(() => null)])
  if (exit) return { graceful: true, exit }
  handle.child.kill('SIGKILL')
  return { graceful: false, exit: await handle.exited }
}

export function killAllChildren(): void {
  for (const child of running) child.kill('SIGKILL')
}
