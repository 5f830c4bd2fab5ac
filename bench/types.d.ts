// Just enough typing for the untyped dev dependencies the benchmark uses (neither ships its own
// declarations and no @types package is installed).

declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http'

  export class Provider {
    constructor(issuer: string, configuration?: Record<string, unknown>)
    callback(): (req: IncomingMessage, res: ServerResponse) => void
  }

  export const errors: {
    InvalidTarget: new (description?: string) => Error
  }

  export default Provider
}

declare module 'autocannon' {
  interface AutocannonOptions {
    url: string
    title?: string
    method?: string
    headers?: Record<string, string>
    body?: string
    connections?: number
    duration?: number
    pipelining?: number
    timeout?: number
    workers?: number
    requests?: AutocannonRequest[]
  }

  type AutocannonContext = Record<string, unknown>

  interface AutocannonRequest {
    method?: string
    path?: string
    headers?: Record<string, string>
    body?: string
    setupRequest?: (request: AutocannonRequest, context: AutocannonContext) => AutocannonRequest
    onResponse?: (
      status: number,
      body: string,
      context: AutocannonContext,
      headers: Record<string, string | string[]>,
    ) => void
  }

  interface Histogram {
    average: number
    mean: number
    stddev: number
    min: number
    max: number
    total: number
    p50: number
    p90: number
    p97_5: number
    p99: number
    p99_9: number
    [key: string]: number
  }

  export interface AutocannonResult {
    title?: string
    url: string
    connections: number
    pipelining: number
    duration: number
    start: Date
    finish: Date
    errors: number
    timeouts: number
    mismatches: number
    non2xx: number
    resets: number
    '1xx': number
    '2xx': number
    '3xx': number
    '4xx': number
    '5xx': number
    statusCodeStats: Record<string, { count: number }>
    latency: Histogram
    requests: Histogram & { sent: number }
    throughput: Histogram
  }

  function autocannon(options: AutocannonOptions): Promise<AutocannonResult>
  export default autocannon
}
