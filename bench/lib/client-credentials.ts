// The client_credentials token request (RFC 6749 §4.4) as benches send it, and its answer checked.
import { decodeProtectedHeader } from 'jose'
import type { LoadRequest } from './autocannon-run.js'
import { BenchError } from './bench-error.js'
import { fetchJson } from './fetch-json.js'

const FORM = 'application/x-www-form-urlencoded'

/** application/x-www-form-urlencoded encoding of one value (RFC 6749 §2.3.1 for Basic). */
export function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1)
}

export function basicAuthorization(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64')}`
}

/** POST tokenUrl with client_secret_basic; `body` defaults to the bare grant. */
export function clientCredentialsRequest(
  tokenUrl: string,
  client: { client_id: string; client_secret: string },
  body = 'grant_type=client_credentials',
): LoadRequest {
  return {
    url: tokenUrl,
    method: 'POST',
    headers: { 'content-type': FORM, authorization: basicAuthorization(client.client_id, client.client_secret) },
    body,
  }
}

/** One access token; fails unless it is a Bearer ES256 `at+jwt` with exactly `scope`. */
export async function requestAccessToken(name: string, request: LoadRequest, scope: string): Promise<string> {
  const body = await fetchJson(request.url, request)
  const token = body.access_token
  if (typeof token !== 'string')
    throw new BenchError(`${name}: token response has no access_token: ${JSON.stringify(body)}`)
  if (typeof body.token_type !== 'string' || body.token_type.toLowerCase() !== 'bearer') {
    throw new BenchError(`${name}: token_type is ${JSON.stringify(body.token_type)}, expected Bearer`)
  }
  if (body.scope !== scope)
    throw new BenchError(`${name}: token response scope is ${JSON.stringify(body.scope)}, expected "${scope}"`)
  const header = decodeProtectedHeader(token)
  if (header.typ !== 'at+jwt' || header.alg !== 'ES256') {
    throw new BenchError(`${name}: access token header is ${JSON.stringify(header)}, expected typ at+jwt and alg ES256`)
  }
  return token
}
