import {
  startAuthentication,
  startRegistration,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/browser'
import { TokenHolder, type AuthListener, type AuthState } from './auth-state.js'
import { LatchkeyError, errorFrom } from './errors.js'
import { createTokenFetch } from './fetch-with-token.js'
import { singleFlight } from './single-flight.js'

export interface FirstPartyOptions {
  /** Latchkey's URL as this app reaches it, e.g. "https://id.example.com" or "" for the same origin. */
  baseUrl: string
  /** Refresh this long before the access token expires (default 60 s). */
  refreshMarginSeconds?: number
  /** Lock and channel name shared by this app's tabs. */
  channelName?: string
  /** Origins besides this page's own that `fetch` sends the access token to, e.g. "https://api.example.com". */
  apiOrigins?: readonly string[]
}

export interface FirstPartyClient {
  /** POST /auth/login; a second factor answers LatchkeyError `mfa_required` with `body.mfa_token`. */
  login(email: string, password: string): Promise<AuthState>
  /** POST /auth/login/mfa: finishes a sign-in that answered `mfa_required`, with a TOTP or recovery code. */
  loginWithCode(mfaToken: string, code: string): Promise<AuthState>
  /**
   * Sign-in with a passkey alone (a discoverable WebAuthn credential): request options from
   * POST /auth/passkeys/login/options, the browser's authenticator, POST /auth/passkeys/login.
   * With the `mfa_token` of `mfa_required`, the passkey is the second step after the password
   * (POST /auth/login/mfa/passkey/options and /auth/login/mfa/passkey).
   */
  loginWithPasskey(mfaToken?: string): Promise<AuthState>
  /**
   * Adds a passkey to the signed-in user's account (POST /auth/passkeys/register/options, then
   * /register). A passkey is a second factor: a sign-in older than 5 minutes needs the password
   * (`reauthentication_required` without it).
   */
  registerPasskey(name?: string, password?: string): Promise<void>
  /** Wires a `<form>` with `email` and `password` fields to login(); returns a function that unwires it. */
  attachLoginForm(form: HTMLFormElement, onResult: (result: AuthState | LatchkeyError) => void): () => void
  /** A valid access token (refreshing through the session cookie when due), or null when signed out. */
  getAccessToken(): Promise<string | null>
  /** Refreshes now; concurrent calls share one request, and a tab that another tab just refreshed for takes its token. */
  refresh(): Promise<string | null>
  /** fetch with the bearer token, retried once after a 401; only to this page's origin and `apiOrigins`. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>
  /** Ends the session here and in every tab of this app. */
  logout(): Promise<void>
  subscribe(listener: AuthListener): () => void
  /** Stops listening to this app's other tabs (an app torn down without a page unload). */
  close(): void
  readonly state: AuthState
}

type TabMessage = { kind: 'token'; accessToken: string; expiresIn: number; at: number } | { kind: 'logout' }

/**
 * The first-party mode: the app is served on Latchkey's site, so the refresh token lives in the
 * HttpOnly, SameSite=Strict session cookie that scripts cannot read, and the access token only in
 * this tab's memory. Tabs share refreshed tokens over a BroadcastChannel and refresh one at a time
 * under a Web Lock, so concurrent refreshes never spend the same cookie twice.
 */
export function createFirstPartyClient(options: FirstPartyOptions): FirstPartyClient {
  const base = options.baseUrl.replace(/\/$/, '')
  const marginMs = (options.refreshMarginSeconds ?? 60) * 1000
  const name = options.channelName ?? 'latchkey-first-party'
  const tokens = new TokenHolder(() => Date.now())
  const channel = typeof BroadcastChannel !== 'undefined' ? new BroadcastChannel(name) : null
  const cookieHeaders = { 'x-requested-with': 'latchkey' }

  const accept = (accessToken: string, expiresIn: number, share: boolean) => {
    tokens.set(accessToken, expiresIn)
    if (share) channel?.postMessage({ kind: 'token', accessToken, expiresIn, at: Date.now() } satisfies TabMessage)
  }

  channel?.addEventListener('message', (event: MessageEvent<TabMessage>) => {
    const message = event.data
    if (message.kind === 'logout') tokens.clear()
    if (message.kind === 'token')
      tokens.set(message.accessToken, message.expiresIn - Math.floor((Date.now() - message.at) / 1000))
  })

  const refresh = singleFlight(
    `${name}:refresh`,
    () => tokens.current(0),
    async () => {
      const response = await fetch(`${base}/auth/refresh`, {
        method: 'POST',
        credentials: 'include',
        headers: cookieHeaders,
      })
      if (!response.ok) {
        tokens.clear()
        if (response.status === 401) return null
        throw await errorFrom(response)
      }
      const body = (await response.json()) as { access_token: string; expires_in: number }
      accept(body.access_token, body.expires_in, true)
      return body.access_token
    },
  )

  const getAccessToken = async () => tokens.current(marginMs) ?? (await refresh())
  const fetchWithToken = createTokenFetch({ getToken: getAccessToken, refresh, apiOrigins: options.apiOrigins })

  async function signIn(path: string, fields: Record<string, string>): Promise<AuthState> {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      credentials: 'include',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(fields),
    })
    if (!response.ok) throw await errorFrom(response)
    const body = (await response.json()) as { access_token: string; expires_in: number }
    accept(body.access_token, body.expires_in, true)
    return tokens.state
  }
  const login = (email: string, password: string) => signIn('/auth/login', { email, password })

  async function loginWithPasskey(mfaToken?: string): Promise<AuthState> {
    const json = { 'content-type': 'application/json' }
    const secondStep = mfaToken !== undefined
    const optionsResponse = await fetch(
      `${base}${secondStep ? '/auth/login/mfa/passkey/options' : '/auth/passkeys/login/options'}`,
      {
        method: 'POST',
        credentials: 'include',
        ...(secondStep ? { headers: json, body: JSON.stringify({ mfa_token: mfaToken }) } : {}),
      },
    )
    if (!optionsResponse.ok) throw await errorFrom(optionsResponse)
    const optionsJSON = (await optionsResponse.json()) as PublicKeyCredentialRequestOptionsJSON
    const credential = await startAuthentication({ optionsJSON })
    const response = await fetch(`${base}${secondStep ? '/auth/login/mfa/passkey' : '/auth/passkeys/login'}`, {
      method: 'POST',
      credentials: 'include',
      headers: json,
      body: JSON.stringify(secondStep ? { mfa_token: mfaToken, response: credential } : { response: credential }),
    })
    if (!response.ok) throw await errorFrom(response)
    const body = (await response.json()) as { access_token: string; expires_in: number }
    accept(body.access_token, body.expires_in, true)
    return tokens.state
  }

  async function registerPasskey(name?: string, password?: string): Promise<void> {
    const token = await getAccessToken()
    if (token === null) throw new LatchkeyError('invalid_token', 'sign in first')
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const optionsResponse = await fetch(`${base}/auth/passkeys/register/options`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify(password === undefined ? {} : { password }),
    })
    if (!optionsResponse.ok) throw await errorFrom(optionsResponse)
    const optionsJSON = (await optionsResponse.json()) as PublicKeyCredentialCreationOptionsJSON
    const credential = await startRegistration({ optionsJSON })
    const response = await fetch(`${base}/auth/passkeys/register`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({
        response: credential,
        ...(name ? { name } : {}),
        ...(password === undefined ? {} : { password }),
      }),
    })
    if (!response.ok) throw await errorFrom(response)
  }

  return {
    login,
    registerPasskey,
    loginWithCode: (mfaToken, code) => signIn('/auth/login/mfa', { mfa_token: mfaToken, code }),
    loginWithPasskey,
    attachLoginForm(form, onResult) {
      const submit = (event: SubmitEvent) => {
        event.preventDefault()
        const data = new FormData(form)
        login(formText(data, 'email'), formText(data, 'password')).then(onResult, (error: unknown) =>
          onResult(error instanceof LatchkeyError ? error : new LatchkeyError('network_error', String(error))),
        )
      }
      form.addEventListener('submit', submit)
      return () => form.removeEventListener('submit', submit)
    },
    getAccessToken,
    refresh,
    fetch: fetchWithToken,
    async logout() {
      await fetch(`${base}/auth/logout`, { method: 'POST', credentials: 'include', headers: cookieHeaders })
      tokens.clear()
      channel?.postMessage({ kind: 'logout' } satisfies TabMessage)
    },
    subscribe: (listener) => tokens.subscribe(listener),
    close: () => channel?.close(),
    get state() {
      return tokens.state
    },
  }
}

/** A text field of a form; a file input (never ours) reads as empty. */
function formText(data: FormData, name: string): string {
  const value = data.get(name)
  return typeof value === 'string' ? value : ''
}
