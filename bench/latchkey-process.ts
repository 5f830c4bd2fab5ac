// What every bench shares: a free port, one Latchkey `serve` child from dist/ that is ready, and
// autocannon results cut down to what the results files record.
import { spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AutocannonResult } from 'autocannon'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const cli = path.join(repoRoot, 'dist/server/cli/main.js')

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/**
 * `latchkey serve` from dist/ with `env` over the bench's own environment, once /readyz answers.
 * BENCH_SERVER_NODE_ARGS passes flags to its node (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 */
export async function startLatchkey(env: Record<string, string>): Promise<{ child: ChildProcess; base: string }> {
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const child = spawn(process.execPath, [...nodeArgs, cli, 'serve'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const base = `http://127.0.0.1:${env.PORT}`
  for (let i = 0; i < 200; i++) {
    if (
      await fetch(`${base}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { child, base }
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill()
  throw new Error('Latchkey did not become ready')
}

export function summary(result: AutocannonResult) {
  return {
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count])),
  }
}
