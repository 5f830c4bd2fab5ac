import { fetchJson } from './http-fetch.js'

export interface IssuerMetadata {
  issuer: string
  jwks_uri: string
}

/**
 * RFC 8414 §3: the well-known segment goes between the host and any path of the issuer. OpenID
 * Connect's location (path + /.well-known/openid-configuration) is tried when the first answers 404.
 */
function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer)
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '')
  return [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}${path}/.well-known/openid-configuration`,
  ]
}

/** Fetches the issuer's metadata and checks it names exactly this issuer (RFC 8414 §3.3). */
export async function discoverIssuer(issuer: string, timeoutMs: number): Promise<IssuerMetadata> {
  let lastStatus = 0
  for (const url of metadataUrls(issuer)) {
    const fetched = await fetchJson(url, { timeoutMs, maxBytes: 1024 * 1024 })
    lastStatus = fetched.status
    if (fetched.status === 404) continue
    if (fetched.status !== 200) break
    const metadata = fetched.body as Partial<IssuerMetadata> | null
    if (typeof metadata !== 'object' || metadata === null) throw new Error(`${url} did not answer a JSON object`)
    if (metadata.issuer !== issuer)
      throw new Error(`${url} names the issuer ${JSON.stringify(metadata.issuer)}, not ${JSON.stringify(issuer)}`)
    if (typeof metadata.jwks_uri !== 'string') throw new Error(`${url} has no jwks_uri`)
    assertFetchableUrl(metadata.jwks_uri, issuer, 'jwks_uri')
    return { issuer: metadata.issuer, jwks_uri: metadata.jwks_uri }
  }
  throw new Error(`no metadata for ${issuer} (HTTP ${lastStatus})`)
}

/** The issuer: https, or http only on a loopback host (local development), as Latchkey requires. */
export function assertIssuerUrl(issuer: string): void {
  let url: URL
  try {
    url = new URL(issuer)
  } catch {
    throw new Error(`issuer ${JSON.stringify(issuer)} is not a URL`)
  }
  const loopback =
    url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(url.hostname)
  // Over plain http anywhere else, whoever sits on the network could swap the keys and forge any token.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    throw new Error(`issuer ${issuer} must use https (http only on a loopback host)`)
}

/** https, or http only when the issuer itself is http (local development). */
export function assertFetchableUrl(value: string, issuer: string, what: string): void {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new Error(`${what} ${JSON.stringify(value)} is not a URL`)
  }
  const issuerIsHttp = new URL(issuer).protocol === 'http:'
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && issuerIsHttp))
    throw new Error(`${what} ${value} must use https`)
}
