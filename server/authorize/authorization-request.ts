import type { Client } from '../clients/client.js'
import type { FindClient } from '../clients/client-lookup.js'
import type { Config } from '../config.js'
import { OAuthError } from '../errors.js'
import { resolveAudience } from '../clients/audience.js'
import { grantScopes } from '../clients/scope.js'
import { matchRedirectUri } from './redirect-uri.js'

/** A validated authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1). */
export interface AuthorizationRequest {
  client: Client
  redirectUri: string
  state: string | null
  scopes: string[]
  audience: string
  codeChallenge: string
  nonce: string | null
  prompt: ReadonlySet<string>
  /** Seconds; null when not given. */
  maxAge: number | null
  loginHint: string | null
  /** RFC 9449 §10: the thumbprint of the DPoP key the code must be exchanged with; null when not given. */
  dpopJkt: string | null
  /** The query string as received, carried through the login and consent forms and re-checked there. */
  query: string
}

/**
 * The client or redirect_uri cannot be trusted: the error is shown to the user and never sent
 * anywhere (RFC 6749 §4.1.2.1, RFC 9700 §4.11.1: no open redirector).
 */
export class AuthorizationPageError extends Error {
  override name = 'AuthorizationPageError'
  constructor(readonly description: string) {
    super(description)
  }
}

/** An error reported back to the client's verified redirect_uri (RFC 6749 §4.1.2.1). */
export class AuthorizationRedirectError extends Error {
  override name = 'AuthorizationRedirectError'
  constructor(
    readonly error: string,
    readonly description: string,
    readonly redirectUri: string,
    readonly state: string | null,
  ) {
    super(description)
  }
}

const MAX_QUERY_LENGTH = 8192
// RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is exactly 43 characters.
const s256Challenge = /^[A-Za-z0-9_-]{43}$/
// RFC 9449 §10 with RFC 7638: base64url of a SHA-256 thumbprint, the only one we compute, is 43 characters.
const sha256Thumbprint = /^[A-Za-z0-9_-]{43}$/
const supportedPrompts = new Set(['none', 'login', 'consent'])

function readParams(query: string): Map<string, string[]> {
  const params = new Map<string, string[]>()
  for (const [key, value] of new URLSearchParams(query)) {
    // RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
    if (value === '') continue
    // Pushed in place: a copy per value would cost quadratic time on one name sent many times.
    const values = params.get(key)
    if (values === undefined) params.set(key, [value])
    else values.push(value)
  }
  return params
}

/** Parses and checks a request, in the order RFC 6749 §4.1.2.1 demands: client and redirect_uri first. */
export async function parseAuthorizationRequest(
  deps: { findClient: FindClient; config: Pick<Config, 'defaultAudience'> },
  query: string,
): Promise<AuthorizationRequest> {
  if (query.length > MAX_QUERY_LENGTH) throw new AuthorizationPageError('The sign-in request is too long.')
  const params = readParams(query)
  const single = (name: string): string | null => {
    const values = params.get(name)
    return values === undefined ? null : values.length === 1 ? values[0]! : 'repeated'
  }
  const clientIds = params.get('client_id')
  if (clientIds === undefined)
    throw new AuthorizationPageError('The app that sent you here did not say who it is (client_id is missing).')
  if (clientIds.length > 1)
    throw new AuthorizationPageError('The sign-in request is malformed (client_id is repeated).')
  const client = clientIds[0]!.length <= 128 ? await deps.findClient(clientIds[0]!) : null
  if (!client) throw new AuthorizationPageError('The app that sent you here is not registered with this server.')

  const redirectUris = params.get('redirect_uri')
  if (redirectUris === undefined)
    throw new AuthorizationPageError('The sign-in request is malformed (redirect_uri is missing).')
  if (redirectUris.length > 1)
    throw new AuthorizationPageError('The sign-in request is malformed (redirect_uri is repeated).')
  const redirectUri = redirectUris[0]!
  if (!matchRedirectUri(redirectUri, client.redirectUris)) {
    throw new AuthorizationPageError(
      'The app asked to return you to an address it has not registered, so you were not sent there.',
    )
  }

  const states = params.get('state')
  const state = states?.length === 1 ? states[0]! : null
  const fail = (error: string, description: string): never => {
    throw new AuthorizationRedirectError(error, description, redirectUri, state)
  }
  for (const [key, values] of params) {
    if (values.length > 1) fail('invalid_request', `parameter ${key} is repeated`)
  }
  // OIDC Core §6: request objects are not supported (and not advertised).
  if (params.has('request')) fail('request_not_supported', 'request objects are not supported')
  if (params.has('request_uri')) fail('request_uri_not_supported', 'request_uri is not supported')

  const responseType = single('response_type')
  if (responseType === null) fail('invalid_request', 'response_type is required')
  if (responseType !== 'code') fail('unsupported_response_type', 'only response_type=code is supported')
  if (!client.grantTypes.includes('authorization_code'))
    fail('unauthorized_client', 'this client may not use the authorization code grant')
  const responseMode = single('response_mode')
  if (responseMode !== null && responseMode !== 'query')
    fail('invalid_request', 'only response_mode=query is supported')

  // RFC 9700 §2.1.1: PKCE for every client, and only S256 (plain would reveal the verifier).
  const codeChallenge = single('code_challenge')
  if (codeChallenge === null) fail('invalid_request', 'code_challenge is required (PKCE with S256)')
  const method = single('code_challenge_method')
  if (method !== 'S256')
    fail(
      'invalid_request',
      method === null ? 'code_challenge_method is required and must be S256' : 'code_challenge_method must be S256',
    )
  if (!s256Challenge.test(codeChallenge!))
    fail('invalid_request', 'code_challenge must be 43 base64url characters (S256)')

  let scopes: string[]
  let audience: string
  try {
    scopes = grantScopes(single('scope') ?? undefined, client.scopes)
    audience = resolveAudience(params.get('resource')?.[0], client, deps.config.defaultAudience)
  } catch (error) {
    if (error instanceof OAuthError) fail(error.error, error.description)
    throw error
  }

  const prompt = new Set((single('prompt') ?? '').split(' ').filter(Boolean))
  for (const value of prompt) {
    if (!supportedPrompts.has(value)) fail('invalid_request', `prompt=${value} is not supported`)
  }
  if (prompt.has('none') && prompt.size > 1) fail('invalid_request', 'prompt=none cannot be combined with other values')

  const maxAgeText = single('max_age')
  let maxAge: number | null = null
  if (maxAgeText !== null) {
    if (!/^\d{1,9}$/.test(maxAgeText)) fail('invalid_request', 'max_age must be a whole number of seconds')
    maxAge = Number(maxAgeText)
  }
  const nonce = single('nonce')
  if (nonce !== null && nonce.length > 512) fail('invalid_request', 'nonce is too long')
  if (state !== null && state.length > 1024) fail('invalid_request', 'state is too long')
  const loginHint = single('login_hint')
  const dpopJkt = single('dpop_jkt')
  if (dpopJkt !== null && !sha256Thumbprint.test(dpopJkt))
    fail('invalid_request', 'dpop_jkt must be the 43-character base64url SHA-256 thumbprint of a DPoP key')

  return {
    client,
    redirectUri,
    state,
    scopes,
    audience,
    codeChallenge: codeChallenge!,
    nonce,
    prompt,
    maxAge,
    loginHint: loginHint !== null && loginHint.length <= 320 ? loginHint : null,
    dpopJkt,
    query,
  }
}

/** The client's redirect_uri with the response parameters added to its query (RFC 6749 §4.1.2, RFC 9207). */
export function buildRedirect(redirectUri: string, params: Record<string, string | null>): string {
  const url = new URL(redirectUri)
  for (const [key, value] of Object.entries(params)) {
    if (value !== null) url.searchParams.append(key, value)
  }
  return url.href
}
