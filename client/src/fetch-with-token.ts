import type { DpopSigner } from './dpop.js'
import { LatchkeyError } from './errors.js'

export interface TokenFetchOptions {
  getToken: () => Promise<string | null>
  refresh: () => Promise<string | null>
  /** Origins besides the page's own that may receive the access token, e.g. "https://api.example.com". */
  apiOrigins?: readonly string[] | undefined
  /**
   * The page's URL, for runtimes without `location`: its origin receives the token and relative
   * URLs resolve against it. Default: `location.origin`, and relative URLs resolve against
   * `document.baseURI` at each call, as fetch itself resolves them.
   */
  pageUrl?: string | undefined
  /**
   * The signer of DPoP proofs when the current access token is DPoP-bound (the token endpoint
   * answered `token_type: DPoP`), else null: the token is then sent as `Authorization: DPoP` with
   * a proof carrying its hash (RFC 9449 §7.1).
   */
  dpop?: (() => Promise<DpopSigner | null>) | undefined
}

/**
 * fetch with `Authorization: Bearer` (or `DPoP` and a proof, see `dpop`), retried once with a refreshed token when the API answers 401
 * (the token expired or was revoked early). The token goes only to the page's own origin and the
 * `apiOrigins` configured: a request anywhere else is refused with LatchkeyError
 * `origin_not_allowed` before anything is sent, so a URL built from untrusted input cannot carry
 * the token away. A request body that is a stream cannot be replayed, so pass bodies as strings,
 * FormData, Blob or URLSearchParams. A resource that asks for a DPoP nonce (401 with
 * `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a `DPoP-Nonce`) gets the request once more
 * with a proof carrying it (RFC 9449 §9).
 */
export function createTokenFetch(
  options: TokenFetchOptions,
): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> {
  const allowed = new Set((options.apiOrigins ?? []).map(originOf))
  const pageOrigin = options.pageUrl === undefined ? globalThis.location?.origin : new URL(options.pageUrl).origin
  if (pageOrigin !== undefined) allowed.add(pageOrigin)
  // An opaque origin (a sandboxed frame, a data: URL) is no one's: it never receives a token.
  allowed.delete('null')

  return async function fetchWithToken(input, init = {}) {
    const url = input instanceof URL ? input.href : typeof input === 'string' ? input : input.url
    const base = options.pageUrl ?? globalThis.document?.baseURI ?? globalThis.location?.href
    let target: URL
    try {
      target = new URL(url, base)
    } catch {
      throw new LatchkeyError('origin_not_allowed', 'the URL cannot be resolved, so no token is sent')
    }
    if (!allowed.has(target.origin))
      throw new LatchkeyError('origin_not_allowed', `access tokens are not sent to ${target.origin} (see apiOrigins)`)
    // The URL checked is the URL fetched: resolved here, not again by fetch against another base.
    const resource = typeof input === 'string' || input instanceof URL ? target.href : input
    const method = init.method ?? (input instanceof Request ? input.method : 'GET')
    const send = async (token: string | null) => {
      const headers = new Headers(init.headers)
      const signer = token === null ? null : await options.dpop?.()
      if (token !== null && signer) {
        headers.set('authorization', `DPoP ${token}`)
        headers.set('dpop', await signer.proof(method, target.href, token))
      } else if (token !== null) headers.set('authorization', `Bearer ${token}`)
      const response = await fetch(resource, { ...init, headers })
      if (!signer) return response
      signer.remember(target.href, response)
      if (!asksForNonce(response)) return response
      headers.set('dpop', await signer.proof(method, target.href, token!))
      return fetch(resource, { ...init, headers })
    }
    const first = await send(await options.getToken())
    if (first.status !== 401) return first
    const token = await options.refresh()
    return token === null ? first : send(token)
  }
}

/** An origin exactly: scheme, host and port, nothing after them, so no one mistakes it for a path prefix. */
function originOf(value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new TypeError(`apiOrigins: ${value} is not a URL`)
  }
  if (url.origin === 'null' || url.pathname !== '/' || url.search || url.hash || url.username || url.password)
    throw new TypeError(`apiOrigins: ${value} is not an origin like https://api.example.com`)
  return url.origin
}

/** RFC 9449 §9: a resource's 401 asking for a proof with its nonce, which it sent along. */
function asksForNonce(response: Response): boolean {
  return (
    response.status === 401 &&
    response.headers.has('dpop-nonce') &&
    /\bDPoP\b[^]*\berror="use_dpop_nonce"/i.test(response.headers.get('www-authenticate') ?? '')
  )
}
