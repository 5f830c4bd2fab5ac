// The URL rules shared by the settings (issuer, public URL, CORS origins), client registration
// (redirect URIs, audiences) and token requests (RFC 8707 resources). Each rule answers with a
// stable problem code, or null; the caller words the error for its own audience.

/** localhost, 127.0.0.0/8 or ::1, with or without the brackets `URL.hostname` keeps around IPv6. */
export function isLoopbackHost(hostname: string): boolean {
  const bare = hostname.replace(/^\[|\]$/g, '')
  return bare === 'localhost' || bare === '::1' || /^127(\.\d{1,3}){3}$/.test(bare)
}

function parseUrl(text: string): URL | null {
  try {
    return new URL(text)
  } catch {
    return null
  }
}

/** RFC 9700 §2.1, RFC 8252 §8.3: traffic leaves the machine unencrypted unless the host is loopback. */
function isCleartextOffLoopback(url: URL): boolean {
  return url.protocol === 'http:' && !isLoopbackHost(url.hostname)
}

/**
 * An absolute URI without a fragment (RFC 3986 §4.3): client audiences, the default audience and
 * RFC 8707 §2 resource indicators. An empty fragment (`…#`) counts, hence the look at the text.
 */
export function findAbsoluteUriProblem(text: string): 'not_absolute' | 'fragment' | null {
  if (parseUrl(text) === null) return 'not_absolute'
  if (text.includes('#')) return 'fragment'
  return null
}

const forbiddenRedirectSchemes = ['javascript:', 'data:', 'file:', 'vbscript:']

/**
 * A registered redirect URI: RFC 6749 §3.1.2 (absolute, no fragment), RFC 9700 §2.1 (https), RFC 8252
 * §7.1/§7.3 (native apps: a private-use scheme, or http on loopback); never a scheme that runs or reads
 * something locally.
 */
export function findRedirectUriProblem(
  text: string,
): 'not_absolute' | 'fragment' | 'cleartext' | 'forbidden_scheme' | null {
  const url = parseUrl(text)
  if (url === null) return 'not_absolute'
  if (text.includes('#')) return 'fragment'
  if (isCleartextOffLoopback(url)) return 'cleartext'
  if (forbiddenRedirectSchemes.includes(url.protocol)) return 'forbidden_scheme'
  return null
}

/**
 * Latchkey's own address (the issuer, the public URL for links): http(s), https unless loopback,
 * no credentials. `bare` also forbids a query and a fragment, as RFC 8414 §2 requires of an issuer.
 */
export function findServerUrlProblem(
  text: string,
  rules: { bare: boolean },
): 'not_absolute' | 'not_http' | 'cleartext' | 'credentials' | 'query' | 'fragment' | null {
  const url = parseUrl(text)
  if (url === null) return 'not_absolute'
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'not_http'
  if (isCleartextOffLoopback(url)) return 'cleartext'
  if (url.username || url.password) return 'credentials'
  if (rules.bare && text.includes('?')) return 'query'
  if (rules.bare && text.includes('#')) return 'fragment'
  return null
}

/**
 * A browser origin allowed by CORS: exactly scheme://host[:port] (RFC 6454 §6.2, an optional trailing
 * slash tolerated), http(s) only, https unless loopback. `*` and `null` are never origins.
 */
export function findOriginProblem(text: string): 'not_origin' | 'cleartext' | null {
  const url = parseUrl(text)
  if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) return 'not_origin'
  if (url.origin !== text.replace(/\/$/, '')) return 'not_origin'
  if (isCleartextOffLoopback(url)) return 'cleartext'
  return null
}

/**
 * A client's jwks_uri (RFC 7591 §2, OIDC Registration §2), which Latchkey fetches: http(s), https
 * unless loopback, no credentials, no fragment.
 */
export function findJwksUriProblem(
  text: string,
): 'not_absolute' | 'not_http' | 'cleartext' | 'credentials' | 'fragment' | null {
  const url = parseUrl(text)
  if (url === null) return 'not_absolute'
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'not_http'
  if (isCleartextOffLoopback(url)) return 'cleartext'
  if (url.username || url.password) return 'credentials'
  if (text.includes('#')) return 'fragment'
  return null
}
