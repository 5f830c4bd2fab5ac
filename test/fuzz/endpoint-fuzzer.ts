import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import type { Fixtures } from './fixtures.js'
import type { Credential, HostileRequest, Route, Spoil, Value } from './hostile-requests.js'
import { sendRaw, type RawResponse } from './raw-http.js'

/** A request as it goes on the wire, and the route it was made for. */
export interface WireRequest {
  route: Route
  method: string
  target: string
  headers: Array<[string, string]>
  body: Buffer
  /** The parameters sent, by name (`{id}` for the path, then query, then body), for the allow-list. */
  fields: Record<string, string>
}

export const MAX_EVENT_LOOP_STALL_MS = 50
const ANSWER_TIMEOUT_MS = 15_000

/** Bytes as %XX, so that lone surrogates and NUL travel as the UTF-8 (or replacement) they become. */
function percentEncode(text: string): string {
  return Array.from(Buffer.from(text, 'utf8'), (byte) =>
    /[A-Za-z0-9\-._~]/.test(String.fromCharCode(byte))
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
  ).join('')
}

function spoil(value: string, how: Spoil): string {
  switch (how) {
    case 'none':
      return value
    case 'truncate':
      return value.slice(0, Math.max(0, value.length - 5))
    case 'flip-last':
      return value.slice(0, -1) + (value.endsWith('A') ? 'B' : 'A')
    case 'append':
      return value + '.x'
    case 'alg-none': {
      const [, payload] = value.split('.')
      return `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${payload ?? ''}.`
    }
    case 'nul':
      return value + '\u0000'
    case 'doubled':
      return value + value
    case 'upper':
      return value.toUpperCase()
    case 'nfd':
      return 'e\u0301' + value
    case 'padded':
      return ` ${value} `
  }
}

function resolveValue(value: Value, fixtures: Fixtures): unknown {
  if ('text' in value) return value.text
  if ('json' in value) return value.json
  return spoil(fixtures[value.ref], value.spoil)
}

const asText = (value: unknown): string => (typeof value === 'string' ? value : (JSON.stringify(value) ?? ''))

function authorizationOf(credential: Credential, fixtures: Fixtures): string | null {
  switch (credential.kind) {
    case 'none':
      return null
    case 'raw-authorization':
      return credential.value
    case 'bearer':
      return `${credential.scheme} ${asText(resolveValue(credential.value, fixtures))}`
    case 'basic': {
      const id = percentEncode(asText(resolveValue(credential.id, fixtures)))
      const secret = percentEncode(asText(resolveValue(credential.secret, fixtures)))
      return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`
    }
  }
}

/** Header values go out as UTF-8 bytes; CR and LF would end the header, so they become spaces. */
const headerSafe = (text: string) => text.replace(/[\r\n]/g, ' ')

/** The hostile request, with fixtures filled in, as bytes. */
export function toWire(route: Route, request: HostileRequest, fixtures: Fixtures): WireRequest {
  let index = 0
  const fields: Record<string, string> = {}
  let path = route.path.replace(/\{[^}]+\}/g, (placeholder) => {
    const value = request.pathParams[index++]
    const text = value ? asText(resolveValue(value, fixtures)) : ''
    fields[placeholder] = text
    return percentEncode(text)
  })
  path += request.pathSuffix
  const query = request.query
    .map(([name, value]) => `${percentEncode(name)}=${percentEncode(asText(resolveValue(value, fixtures)))}`)
    .join('&')
  const target = query ? `${path}?${query}` : path
  for (const [name, value] of request.query) fields[name] = asText(resolveValue(value, fixtures))
  const headers: Array<[string, string]> = []
  let body = Buffer.alloc(0)
  let contentType: string | null = null
  if (request.body.kind === 'fields') {
    const pairs = request.body.fields.map(([name, value]) => [name, resolveValue(value, fixtures)] as const)
    if (request.body.encoding === 'json') {
      // A repeated name in JSON: the text carries both, whatever a parser keeps.
      const members = pairs.map(([name, value]) => `${JSON.stringify(name)}:${JSON.stringify(value) ?? 'null'}`)
      body = Buffer.from(`{${members.join(',')}}`, 'utf8')
      contentType = 'application/json'
    } else {
      body = Buffer.from(
        pairs.map(([name, value]) => `${percentEncode(name)}=${percentEncode(asText(value))}`).join('&'),
      )
      contentType = 'application/x-www-form-urlencoded'
    }
    for (const [name, value] of pairs) fields[name] = asText(value)
  } else if (request.body.kind === 'raw') {
    body = Buffer.from(request.body.text, 'utf8')
    contentType = 'text/plain'
    fields['(raw body)'] = request.body.text
  }
  if (request.contentType !== null) contentType = request.contentType
  if (contentType !== null) headers.push(['content-type', headerSafe(contentType)])
  const authorization = authorizationOf(request.credential, fixtures)
  if (authorization !== null) headers.push(['authorization', headerSafe(authorization)])
  if (request.dpop) headers.push(['dpop', headerSafe(asText(resolveValue(request.dpop, fixtures)))])
  if (request.cookie)
    headers.push([
      'cookie',
      headerSafe(`${request.cookie.name}=${asText(resolveValue(request.cookie.value, fixtures))}`),
    ])
  for (const [name, value] of request.extraHeaders) headers.push([name, headerSafe(value)])
  return { route, method: request.method, target, headers, body, fields }
}

export interface Outcome {
  response: RawResponse | null
  failure: string | null
  stallMs: number
  elapsedMs: number
}

/**
 * Sends one request on its own connection and measures the longest event-loop stall while the
 * server handles it (the app runs in this process): the largest timer delay of Node's histogram
 * (sampled every 10 ms), bounded by the time the loop was busy (event-loop utilization).
 */
export async function sendMeasured(port: number, wire: WireRequest): Promise<Outcome> {
  const explicitLength = wire.headers.some(([name]) => name === 'content-length' || name === 'transfer-encoding')
  const lines = [
    `${wire.method} ${wire.target} HTTP/1.1`,
    'host: localhost',
    'connection: close',
    ...wire.headers.map(([name, value]) => `${name}: ${value}`),
    ...(explicitLength ? [] : [`content-length: ${wire.body.length}`]),
  ]
  const head = lines.join('\r\n') + '\r\n\r\n'
  const histogram = monitorEventLoopDelay({ resolution: 10 })
  histogram.enable()
  const utilization = performance.eventLoopUtilization()
  const started = performance.now()
  // A timer that fires late shows a stall, but so does a process the OS did not schedule while it
  // waited for I/O (argon2 hashing on a two-core machine): only time the loop spent running code
  // counts, so the stall is the smaller of the two.
  const stallMs = () => Math.min(histogram.max / 1e6, performance.eventLoopUtilization(utilization).active)
  try {
    const response = await sendRaw(port, head, wire.body, ANSWER_TIMEOUT_MS)
    histogram.disable()
    return { response, failure: null, stallMs: stallMs(), elapsedMs: performance.now() - started }
  } catch (error) {
    histogram.disable()
    return {
      response: null,
      failure: (error as Error).message,
      stallMs: stallMs(),
      elapsedMs: performance.now() - started,
    }
  }
}

/** Hosted pages answer people with HTML; everything else answers programs with JSON. */
const hostedPage =
  /^\/(oauth\/authorize|oauth\/logout|device|signin|signup|signout|consent|verify-email|reset-password|account\/|docs)/
/** RFC 6749 §5.1, RFC 7009, RFC 7662, and the first-party API: no cache may keep any answer. */
const noStoreRoute = /^\/(oauth\/(token|revoke|introspect|userinfo)|auth\/)/
/** What a schema path, a stack trace or a validator's own wording looks like. */
const leak =
  /#\/|\/properties\/|instancePath|body\/|querystring\/|node_modules|\.ts:\d|\bat [\w.<>]+ \(|must NOT have|must match pattern/

/**
 * The properties every answer must have. Returns what is wrong, or null.
 * - never a 5xx;
 * - an error is {"error","error_description"} as JSON, or an HTML page on hosted pages,
 *   with nothing that shows how the server is built;
 * - Cache-Control: no-store on the OAuth endpoints and /auth/*, and on every JSON error.
 */
export function violationOf(wire: WireRequest, outcome: Outcome): string | null {
  const { response } = outcome
  if (!response) return `no answer: ${outcome.failure}`
  const { status, headers, body } = response
  if (status >= 500) return `status ${status}`
  const path = wire.target.split('?')[0]!
  const cacheControl = headers['cache-control'] ?? ''
  if (noStoreRoute.test(path) && !/no-store/.test(cacheControl)) return `no Cache-Control: no-store on ${status}`
  if (status < 400 || wire.method === 'HEAD') return null
  const type = headers['content-type'] ?? ''
  if (/^text\/html/.test(type)) {
    if (!hostedPage.test(path)) return `HTML error ${status} outside the hosted pages`
    if (leak.test(body)) return `error page ${status} shows internals`
    return null
  }
  if (!/^application\/json/.test(type)) return `error ${status} with content-type "${type}"`
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return `error ${status} body is not JSON`
  }
  const shaped = parsed as Record<string, unknown>
  if (
    typeof shaped !== 'object' ||
    shaped === null ||
    typeof shaped.error !== 'string' ||
    typeof shaped.error_description !== 'string' ||
    Object.keys(shaped).some((key) => !['error', 'error_description', 'mfa_token'].includes(key))
  )
    return `error ${status} is not {"error","error_description"}: ${body.slice(0, 120)}`
  if (leak.test(shaped.error_description)) return `error ${status} shows internals: ${shaped.error_description}`
  if (!/no-store/.test(cacheControl)) return `error ${status} without Cache-Control: no-store`
  return null
}
