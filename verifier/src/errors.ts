/** Stable codes: match on `error.code`, never on the message. */
export type VerifierErrorCode =
  /** No `Authorization: Bearer` credentials at all. */
  | 'token_missing'
  /** Not a compact JWS, too large, bad base64url or JSON, or an unusable header. */
  | 'token_malformed'
  /** A header the verifier refuses on principle: jku, x5u, x5c, jwk, unknown crit. */
  | 'header_not_allowed'
  /** `alg` is not in the allow-list, or does not match the key named by `kid`. */
  | 'alg_not_allowed'
  /** No published key has this `kid`, even after refetching the key set. */
  | 'key_unknown'
  | 'signature_invalid'
  /** typ, iss, aud or a required claim is wrong or missing; see `claim`. */
  | 'claim_invalid'
  | 'token_expired'
  | 'token_not_yet_valid'
  /** Listed in Latchkey's revocation feed (session, token or user cut-off). */
  | 'token_revoked'
  /** Valid token without the scope the route needs. */
  | 'insufficient_scope'
  /** No key set could be loaded yet (issuer unreachable or misconfigured). */
  | 'keys_unavailable'
  /** The revocation feed has never been loaded, so revocations cannot be checked. */
  | 'revocations_unavailable'
  /** RFC 9449: a DPoP-bound token (cnf.jkt) was presented as a Bearer token, or a DPoP one is not bound. */
  | 'token_dpop_mismatch'
  /** RFC 9449 §7.1: the DPoP proof is missing, invalid, replayed or signed by another key. */
  | 'dpop_proof_invalid'

export class VerifierError extends Error {
  override readonly name = 'VerifierError'
  readonly code: VerifierErrorCode
  /** For claim_invalid: the claim or header member that failed. */
  readonly claim: string | undefined
  /** For insufficient_scope: the scopes the route needs. */
  readonly requiredScopes: readonly string[] | undefined
  /** 'dpop' when the request presented its token with the DPoP scheme: the challenge names DPoP. */
  readonly scheme: 'dpop' | undefined

  constructor(
    code: VerifierErrorCode,
    message: string,
    details: { claim?: string; requiredScopes?: readonly string[]; cause?: unknown; scheme?: 'dpop' } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.code = code
    this.claim = details.claim
    this.requiredScopes = details.requiredScopes
    this.scheme = details.scheme
  }
}

export function isVerifierError(error: unknown): error is VerifierError {
  return error instanceof VerifierError
}
