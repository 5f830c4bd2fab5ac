import type { VerifierError } from './errors.js'
import { isVerifierError } from './errors.js'
import { DPOP_ALGORITHMS } from './dpop.js'

export interface BearerErrorResponse {
  statusCode: 401 | 403 | 503
  headers: Record<string, string>
  body: { error: string; error_description: string }
}

const descriptions: Record<VerifierError['code'], string> = {
  token_missing: 'A bearer access token is required',
  token_malformed: 'The access token is malformed',
  header_not_allowed: 'The access token has a header that is not allowed',
  alg_not_allowed: 'The access token algorithm is not allowed',
  key_unknown: 'The access token was signed with an unknown key',
  signature_invalid: 'The access token signature is invalid',
  claim_invalid: 'The access token is not valid for this service',
  token_expired: 'The access token expired',
  token_not_yet_valid: 'The access token is not valid yet',
  token_revoked: 'The access token has been revoked',
  insufficient_scope: 'The access token lacks the scope this request needs',
  keys_unavailable: 'Access tokens cannot be checked right now',
  revocations_unavailable: 'Access tokens cannot be checked right now',
  token_dpop_mismatch: 'The access token must be presented with the scheme it is bound to',
  dpop_proof_invalid: 'The DPoP proof is missing or invalid',
}

/**
 * The RFC 6750 §3 answer for a verification failure, for any HTTP framework: 401 with
 * `WWW-Authenticate: Bearer` (and error="invalid_token" when a token was sent), 403 with
 * error="insufficient_scope", 503 when the verifier has never loaded keys or the revocation feed.
 * Descriptions are fixed strings: nothing from the token is echoed.
 */
export function bearerErrorResponse(error: VerifierError, options: { realm?: string } = {}): BearerErrorResponse {
  const description = descriptions[error.code]
  const body = { error: 'invalid_token', error_description: description }
  const params: string[] = options.realm === undefined ? [] : [`realm="${quoted(options.realm)}"`]
  if (error.code === 'keys_unavailable' || error.code === 'revocations_unavailable') {
    return {
      statusCode: 503,
      headers: { 'cache-control': 'no-store', 'retry-after': '5' },
      body: { error: 'temporarily_unavailable', error_description: description },
    }
  }
  if (
    error.code === 'token_dpop_mismatch' ||
    error.code === 'dpop_proof_invalid' ||
    (error.scheme === 'dpop' && error.code !== 'token_missing' && error.code !== 'insufficient_scope')
  ) {
    // RFC 9449 §7.1: the challenge names the DPoP scheme and the algorithms a proof may use.
    const code = error.code === 'dpop_proof_invalid' ? 'invalid_dpop_proof' : 'invalid_token'
    params.push(`error="${code}"`, `error_description="${description}"`, `algs="${DPOP_ALGORITHMS.join(' ')}"`)
    return {
      statusCode: 401,
      headers: { 'www-authenticate': `DPoP ${params.join(', ')}`, 'cache-control': 'no-store' },
      body: { error: code, error_description: description },
    }
  }
  if (error.code === 'token_missing') {
    // §3.1: a request without credentials gets the challenge but no error code.
    const challenge = params.length === 0 ? 'Bearer' : `Bearer ${params.join(', ')}`
    return {
      statusCode: 401,
      headers: { 'www-authenticate': challenge, 'cache-control': 'no-store' },
      body: { error: 'invalid_request', error_description: description },
    }
  }
  if (error.code === 'insufficient_scope') {
    params.push('error="insufficient_scope"', `error_description="${description}"`)
    if (error.requiredScopes?.length) params.push(`scope="${quoted(error.requiredScopes.join(' '))}"`)
    return {
      statusCode: 403,
      headers: { 'www-authenticate': `Bearer ${params.join(', ')}`, 'cache-control': 'no-store' },
      body: { error: 'insufficient_scope', error_description: description },
    }
  }
  params.push('error="invalid_token"', `error_description="${description}"`)
  return {
    statusCode: 401,
    headers: { 'www-authenticate': `Bearer ${params.join(', ')}`, 'cache-control': 'no-store' },
    body,
  }
}

/** The answer for anything thrown while authenticating: VerifierErrors mapped, anything else rethrown. */
export function toBearerErrorResponse(error: unknown, options: { realm?: string } = {}): BearerErrorResponse {
  if (!isVerifierError(error)) throw error
  return bearerErrorResponse(error, options)
}

/** RFC 9110 §5.6.4 quoted-string: backslash and double quote escaped. */
function quoted(value: string): string {
  return value.replace(/[\\"]/g, '\\$&')
}
