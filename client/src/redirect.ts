import { TokenHolder, decodeClaims, type AuthListener, type AuthState } from './auth-state.js'
import { createDpopSigner, loadOrCreateDpopKeys, type DpopSigner } from './dpop.js'
import { LatchkeyError, errorFrom } from './errors.js'
import { createTokenFetch } from './fetch-with-token.js'
import { randomText, sha256 } from './pkce.js'
import { singleFlight } from './single-flight.js'

export interface RedirectOptions {
  /** Latchkey's issuer URL (the `iss` of its tokens). */
  issuer: string
  clientId: string
  /** Registered exactly as given here. */
  redirectUri: string
  /** Default "openid". */
  scope?: string
  /** RFC 8707 resource: the API the access token is for. */
  resource?: string
  /** Refresh this long before the access token expires (default 60 s). */
  refreshMarginSeconds?: number
  /** Where the one-time sign-in state waits during the redirect (default sessionStorage: this tab only). */
  storage?: Storage
  /** Where the non-secret "this app was signed in" marker lives (default localStorage: new tabs sign in too). */
  markerStorage?: Storage
  /**
   * Origins besides this page's own that `fetch` sends the access token to: the APIs, and the
   * issuer's if the app calls userinfo with it, e.g. ["https://api.example.com"].
   */
  apiOrigins?: readonly string[]
  /**
   * Sender-constrained tokens (DPoP, RFC 9449): a non-extractable ES256 key, kept in IndexedDB for
   * this issuer and client and reused across page loads, signs a proof for every token request and
   * API call, and Latchkey binds the tokens (the refresh token too) to it. Default false.
   */
  dpop?: boolean
}

export interface SignInOptions {
  prompt?: 'none' | 'login' | 'consent'
  loginHint?: string
  maxAge?: number
  /** Where the app wants to be after sign-in; returned by handleRedirect. */
  returnTo?: string
}

export interface RedirectClient {
  /** Goes to Latchkey's hosted sign-in (authorization code + PKCE). */
  signIn(options?: SignInOptions): Promise<void>
  /**
   * On the redirect_uri page: checks state, iss and the ID token's nonce, exchanges the code and
   * cleans the URL. Returns null when the URL is not a sign-in response.
   */
  handleRedirect(url?: string): Promise<{ state: AuthState; returnTo: string | null } | null>
  /**
   * After a reload: tokens live in memory only, so an app that was signed in in this tab goes
   * through Latchkey again with prompt=none (no page is shown while the hosted sign-in lasts).
   * Resolves false when there is nothing to restore; otherwise the page navigates away.
   */
  restore(): Promise<boolean>
  getAccessToken(): Promise<string | null>
  refresh(): Promise<string | null>
  /** fetch with the bearer token, retried once after a 401; only to this page's origin and `apiOrigins`. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>
  /** Revokes the refresh token; `endSignin` also signs the browser out of Latchkey and comes back to `redirectUri`. */
  logout(options?: { endSignin?: boolean }): Promise<void>
  /** With `dpop`, the thumbprint of this app's DPoP key (the `cnf.jkt` of its tokens); otherwise null. */
  dpopThumbprint(): Promise<string | null>
  /** The ID token's claims from the last sign-in. */
  readonly idClaims: Record<string, unknown> | null
  subscribe(listener: AuthListener): () => void
  readonly state: AuthState
}

interface Metadata {
  issuer: string
  authorization_endpoint: string
  token_endpoint: string
  revocation_endpoint?: string
}

interface Pending {
  state: string
  nonce: string
  verifier: string
  returnTo: string | null
  /** max_age sent with the request, in seconds; absent when none was. */
  maxAge?: number
}

/** Clock difference tolerated between this browser and Latchkey when checking auth_time. */
const AUTH_TIME_LEEWAY_S = 60

interface TokenResponse {
  access_token: string
  token_type?: string
  expires_in: number
  refresh_token?: string
  id_token?: string
}

/**
 * The redirect mode, for an app on any site: authorization code with PKCE (RFC 7636) against a
 * public client. Tokens stay in this tab's memory; nothing but a "was signed in" marker and the
 * one-time sign-in state touches storage.
 */
export function createRedirectClient(options: RedirectOptions): RedirectClient {
  const issuer = options.issuer.replace(/\/$/, '')
  const marginMs = (options.refreshMarginSeconds ?? 60) * 1000
  const storage = options.storage ?? sessionStorage
  const markerStorage = options.markerStorage ?? localStorage
  // Signing out in one tab signs out the others (each holds its own refresh token).
  const channel = typeof BroadcastChannel !== 'undefined' ? new BroadcastChannel(`latchkey:${options.clientId}`) : null
  const pendingKey = `latchkey:${options.clientId}:pending`
  const markerKey = `latchkey:${options.clientId}:signed-in`
  const tokens = new TokenHolder(() => Date.now())
  let refreshToken: string | null = null
  let idClaims: Record<string, unknown> | null = null
  let metadata: Promise<Metadata> | null = null

  const discover = () =>
    (metadata ??= fetch(`${issuer}/.well-known/openid-configuration`).then(async (response) => {
      if (!response.ok) throw await errorFrom(response)
      const body = (await response.json()) as Metadata
      if (body.issuer !== issuer)
        throw new LatchkeyError('invalid_metadata', 'the discovery document names another issuer')
      return body
    }))

  // One key per issuer and client, loaded (or made) once per page.
  let signer: Promise<DpopSigner> | null = null
  const dpopSigner = () =>
    (signer ??= loadOrCreateDpopKeys(`${issuer} ${options.clientId}`)
      .then(createDpopSigner)
      .catch((error: unknown) => {
        signer = null
        throw error
      }))
  let tokenType = 'Bearer'

  const tokenRequest = async (params: Record<string, string>): Promise<TokenResponse> => {
    const endpoint = (await discover()).token_endpoint
    const dpop = options.dpop ? await dpopSigner() : null
    const send = async () => {
      const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded' })
      if (dpop) headers.set('dpop', await dpop.proof('POST', endpoint))
      const response = await fetch(endpoint, {
        method: 'POST',
        headers,
        body: new URLSearchParams({ client_id: options.clientId, ...params }),
      })
      dpop?.remember(endpoint, response)
      return response
    }
    let response = await send()
    // RFC 9449 §8: the server wants a proof with its nonce, which it sent along; once more with it.
    if (dpop && response.status === 400 && response.headers.has('dpop-nonce')) {
      const error = await errorFrom(response.clone())
      if (error.error === 'use_dpop_nonce') response = await send()
    }
    if (!response.ok) throw await errorFrom(response)
    return (await response.json()) as TokenResponse
  }

  const accept = (response: TokenResponse) => {
    if (response.refresh_token) refreshToken = response.refresh_token
    // RFC 9449 §5: token_type DPoP means the token is bound and must travel with proofs.
    tokenType = response.token_type?.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer'
    tokens.set(response.access_token, response.expires_in)
    markerStorage.setItem(markerKey, '1')
  }

  const signOutLocally = () => {
    refreshToken = null
    idClaims = null
    markerStorage.removeItem(markerKey)
    tokens.clear()
  }

  async function signIn(signInOptions: SignInOptions = {}): Promise<void> {
    const pending: Pending = {
      state: randomText(),
      nonce: randomText(),
      verifier: randomText(48),
      returnTo: signInOptions.returnTo ?? null,
      ...(signInOptions.maxAge !== undefined ? { maxAge: signInOptions.maxAge } : {}),
    }
    storage.setItem(pendingKey, JSON.stringify(pending))
    const url = new URL((await discover()).authorization_endpoint)
    const params: Record<string, string> = {
      response_type: 'code',
      client_id: options.clientId,
      redirect_uri: options.redirectUri,
      scope: options.scope ?? 'openid',
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await sha256(pending.verifier),
      code_challenge_method: 'S256',
    }
    if (options.resource) params.resource = options.resource
    if (signInOptions.prompt) params.prompt = signInOptions.prompt
    if (signInOptions.loginHint) params.login_hint = signInOptions.loginHint
    if (signInOptions.maxAge !== undefined) params.max_age = String(signInOptions.maxAge)
    url.search = new URLSearchParams(params).toString()
    location.assign(url.href)
  }

  function checkIdToken(idToken: string, nonce: string, maxAge: number | undefined): Record<string, unknown> {
    // Received straight from the token endpoint over TLS, so its signature need not be checked
    // here (OIDC Core §3.1.3.7 (6)); the claims that bind it to this sign-in must be.
    const claims = decodeClaims(idToken)
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
    if (claims.iss !== issuer) throw new LatchkeyError('invalid_id_token', 'the ID token comes from another issuer')
    if (!aud.includes(options.clientId))
      throw new LatchkeyError('invalid_id_token', 'the ID token is for another client')
    if (claims.nonce !== nonce)
      throw new LatchkeyError('invalid_id_token', 'the ID token nonce does not match this sign-in')
    if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now())
      throw new LatchkeyError('invalid_id_token', 'the ID token has expired')
    // OIDC Core §3.1.3.7 (13): with max_age, auth_time must be present and recent enough.
    if (
      maxAge !== undefined &&
      (typeof claims.auth_time !== 'number' || (claims.auth_time + maxAge + AUTH_TIME_LEEWAY_S) * 1000 < Date.now())
    ) {
      throw new LatchkeyError('invalid_id_token', 'the sign-in is older than max_age allows')
    }
    return claims
  }

  async function handleRedirect(href = location.href): Promise<{ state: AuthState; returnTo: string | null } | null> {
    const url = new URL(href)
    const params = url.searchParams
    if (!params.has('state') || (!params.has('code') && !params.has('error'))) return null
    const stored = storage.getItem(pendingKey)
    storage.removeItem(pendingKey)
    history.replaceState(history.state, '', `${url.pathname}${url.hash}`)
    const pending = stored ? (JSON.parse(stored) as Pending) : null
    if (!pending || params.get('state') !== pending.state)
      throw new LatchkeyError('invalid_state', 'this sign-in response does not belong to a sign-in started here')
    // RFC 9207: the response must come from our issuer (mix-up defence).
    if (params.get('iss') !== issuer)
      throw new LatchkeyError('invalid_issuer', 'the sign-in response comes from another issuer')
    const error = params.get('error')
    if (error !== null) {
      if (error === 'login_required' || error === 'consent_required') {
        signOutLocally()
        return { state: tokens.state, returnTo: pending.returnTo }
      }
      throw new LatchkeyError(error, params.get('error_description') ?? 'the sign-in failed')
    }
    const response = await tokenRequest({
      grant_type: 'authorization_code',
      code: params.get('code')!,
      redirect_uri: options.redirectUri,
      code_verifier: pending.verifier,
    })
    if (response.id_token) idClaims = checkIdToken(response.id_token, pending.nonce, pending.maxAge)
    else if ((options.scope ?? 'openid').split(' ').includes('openid'))
      throw new LatchkeyError('invalid_id_token', 'no ID token was returned')
    accept(response)
    return { state: tokens.state, returnTo: pending.returnTo }
  }

  const refresh = singleFlight(
    `latchkey:${options.clientId}:refresh:${randomText(8)}`,
    () => null,
    async () => {
      if (refreshToken === null) return null
      try {
        accept(await tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken }))
        return tokens.current(0)
      } catch (error) {
        if (error instanceof LatchkeyError && error.error === 'invalid_grant') {
          signOutLocally()
          return null
        }
        throw error
      }
    },
  )
  const getAccessToken = async () => tokens.current(marginMs) ?? (await refresh())
  const fetchWithToken = createTokenFetch({
    getToken: getAccessToken,
    refresh,
    apiOrigins: options.apiOrigins,
    dpop: async () => (tokenType === 'DPoP' ? await dpopSigner() : null),
  })

  /** RFC 7009: revoking the refresh token ends its session, so the access tokens stop working too. */
  async function revokeAndForget(): Promise<void> {
    const meta = await discover()
    const token = refreshToken
    signOutLocally()
    if (token !== null && meta.revocation_endpoint) {
      await fetch(meta.revocation_endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, token_type_hint: 'refresh_token', client_id: options.clientId }),
      })
    }
  }
  channel?.addEventListener('message', (event: MessageEvent<unknown>) => {
    if (event.data === 'logout') void revokeAndForget().catch(() => undefined)
  })

  return {
    signIn,
    handleRedirect,
    async restore() {
      if (tokens.current(0) !== null || markerStorage.getItem(markerKey) !== '1') return false
      await signIn({ prompt: 'none', returnTo: location.pathname + location.search })
      return true
    },
    getAccessToken,
    refresh,
    fetch: fetchWithToken,
    async logout(logoutOptions = {}) {
      await revokeAndForget()
      channel?.postMessage('logout')
      if (logoutOptions.endSignin) {
        const url = new URL(`${issuer}/signout`)
        url.search = new URLSearchParams({
          client_id: options.clientId,
          post_logout_redirect_uri: options.redirectUri,
        }).toString()
        location.assign(url.href)
      }
    },
    async dpopThumbprint() {
      return options.dpop ? (await dpopSigner()).jkt : null
    },
    get idClaims() {
      return idClaims
    },
    subscribe: (listener) => tokens.subscribe(listener),
    get state() {
      return tokens.state
    },
  }
}
