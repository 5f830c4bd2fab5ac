import { BenchError } from './bench-error.js'

/** fetch that insists on a 200 with a JSON body. */
export async function fetchJson(url: string, init?: RequestInit): Promise<Record<string, unknown>> {
  const response = await fetch(url, init)
  const text = await response.text()
  if (response.status !== 200)
    throw new BenchError(`${init?.method ?? 'GET'} ${url} answered ${response.status}: ${text}`)
  try {
    return JSON.parse(text) as Record<string, unknown>
  } catch {
    throw new BenchError(`${init?.method ?? 'GET'} ${url} answered non-JSON: ${text}`)
  }
}
