/** What the verifier needs from a GET: status, a few headers, and the body parsed as JSON. */
export interface FetchedJson {
  status: number
  etag: string | null
  cacheControl: string | null
  body: unknown
}

/**
 * One GET with a deadline and no redirects (a redirect could lead anywhere; Latchkey never sends
 * one). Bodies over `maxBytes` are refused. Throws on network errors and non-JSON 200 answers.
 */
export async function fetchJson(
  url: string,
  options: { timeoutMs: number; maxBytes: number; etag?: string | null },
): Promise<FetchedJson> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (options.etag) headers['if-none-match'] = options.etag
  const response = await fetch(url, { headers, redirect: 'error', signal: AbortSignal.timeout(options.timeoutMs) })
  const meta = {
    status: response.status,
    etag: response.headers.get('etag'),
    cacheControl: response.headers.get('cache-control'),
  }
  if (response.status !== 200) {
    await response.body?.cancel()
    return { ...meta, body: null }
  }
  const length = Number(response.headers.get('content-length') ?? 0)
  if (length > options.maxBytes) {
    await response.body?.cancel()
    throw new Error(`${url} answered more than ${options.maxBytes} bytes`)
  }
  const text = await response.text()
  if (text.length > options.maxBytes) throw new Error(`${url} answered more than ${options.maxBytes} bytes`)
  return { ...meta, body: JSON.parse(text) as unknown }
}

/** RFC 9111 §5.2.2.1 max-age in milliseconds, or null when absent or caching is forbidden. */
export function maxAgeOf(cacheControl: string | null): number | null {
  if (!cacheControl) return null
  if (/(^|,)\s*(no-store|no-cache)\s*(,|$)/i.test(cacheControl)) return 0
  const match = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl)
  return match ? Number(match[1]) * 1000 : null
}
