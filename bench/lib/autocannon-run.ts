// autocannon against one request, and its result cut down to what the results files record.
import autocannon, { type AutocannonResult } from 'autocannon'
import { BenchError } from './bench-error.js'
import { cpuSnapshot, otherCpu } from './cpu-accounting.js'

/** One HTTP request a server under test answers, as autocannon and fetch both take it. */
export interface LoadRequest {
  url: string
  method: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
}

/** The shape accounts and password-reset record: whole requests per second, latency in ms. */
export function summary(result: AutocannonResult) {
  return {
    // 2xx only: a server that sheds load answers 503s quickly, and those are not throughput.
    requestsPerSecond: Math.round(result['2xx'] / result.duration),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count])),
  }
}

export interface LoadStats {
  /** Cores' worth of CPU used by other processes during the phase; near 0 on a quiet machine. */
  otherProcessesCpuCores: number | null
  requestsPerSecond: number
  autocannonMeanRequestsPerSecond: number
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number }
  total2xx: number
  non2xx: number
  errors: number
  timeouts: number
  durationSeconds: number
}

/**
 * A load phase whose every answer must be 2xx: autocannon on `request` for `seconds`, with the CPU
 * other processes took meanwhile (`serverPid`'s and the bench's own excluded). Any non-2xx, error
 * or timeout fails the bench, with one more request's answer and the server's output to explain it.
 */
export async function loadPhase(
  request: LoadRequest,
  options: { seconds: number; connections: number; serverPid: number; what: string; serverOutput: () => string },
): Promise<LoadStats> {
  const before = await cpuSnapshot([options.serverPid])
  const result = await autocannon({
    ...request,
    connections: options.connections,
    duration: options.seconds,
    pipelining: 1,
    timeout: 10,
  })
  const otherProcessesCpuCores = otherCpu(before, await cpuSnapshot([options.serverPid]))
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    const statuses = Object.entries(result.statusCodeStats)
      .map(([status, { count }]) => `${status}: ${count}`)
      .join(', ')
    let sample: string
    try {
      const response = await fetch(request.url, request)
      sample = `\none more request now answers ${response.status}: ${(await response.text()).slice(0, 500)}`
    } catch (error) {
      sample = `\none more request now fails: ${String(error)}`
    }
    throw new BenchError(
      `${options.what}: ${result.non2xx} non-2xx responses, ${result.errors} errors, ${result.timeouts} timeouts ` +
        `out of ${result['2xx'] + result.non2xx} responses (status counts: ${statuses})${sample}\nServer output:\n${options.serverOutput()}`,
    )
  }
  return {
    otherProcessesCpuCores,
    requestsPerSecond: result['2xx'] / result.duration,
    autocannonMeanRequestsPerSecond: result.requests.mean,
    latencyMs: {
      mean: result.latency.mean,
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    total2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    durationSeconds: result.duration,
  }
}
