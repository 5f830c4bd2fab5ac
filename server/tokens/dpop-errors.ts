import { ApiError, OAuthError } from '../errors.js'
import { dpopAlgorithms } from './dpop-proof.js'

/** RFC 9449 §5: the DPoP proof of a token request is missing, malformed or fails a check. */
export class InvalidDpopProof extends OAuthError {
  constructor(description: string) {
    super('invalid_dpop_proof', 400, description)
  }
}

/** RFC 9449 §8: the proof must carry the server's nonce, given in the DPoP-Nonce header. */
export class UseDpopNonce extends OAuthError {
  constructor(nonce: string) {
    super('use_dpop_nonce', 400, 'the DPoP proof must carry the nonce in the DPoP-Nonce header', {
      'dpop-nonce': nonce,
    })
  }
}

/** RFC 9449 §7.1: a resource request with a DPoP-bound token fails; the challenge names the DPoP scheme. */
export class DpopResourceError extends ApiError {
  constructor(error: 'invalid_token' | 'invalid_dpop_proof', description: string) {
    super(error, 401, description, {
      'www-authenticate': `DPoP error="${error}", algs="${dpopAlgorithms.join(' ')}"`,
    })
  }
}
