import { createHash, timingSafeEqual } from 'node:crypto'
import { calculateJwkThumbprint, EmbeddedJWK, errors, jwtVerify, type JWTPayload } from 'jose'

/** RFC 9449 §5.1: asymmetric algorithms only; `none` and MACs can never prove possession. */
export const dpopAlgorithms = ['ES256', 'EdDSA', 'RS256', 'PS256'] as const

/** RFC 9449 §11.1: how far a proof's iat may lie from our clock, either way. */
export const DPOP_IAT_WINDOW_MS = 60_000

const MAX_JTI_LENGTH = 200

export interface VerifiedDpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's public key (the cnf.jkt it binds to). */
  jkt: string
  jti: string
  iat: number
  nonce: string | undefined
}

export interface ExpectedDpopRequest {
  method: string
  /** The request's URL as the client addressed it (the issuer's public URL plus the path). */
  url: string
  now: number
  /** RFC 9449 §4.2: a resource request's proof carries ath, the hash of the access token. */
  accessToken?: string
}

/** Why a proof fails, in a sentence that reveals nothing of the server. */
export class DpopProofError extends Error {
  override name = 'DpopProofError'
}

/**
 * RFC 9449 §4.3 checks 1–11 except the nonce and the jti replay, which need state and are the
 * caller's: one JWS with typ dpop+jwt, an allowed asymmetric alg, a public jwk in its header that
 * verifies the signature, htm and htu of this request, an iat inside the window and, for a
 * resource request, the ath of the access token.
 */
export async function verifyDpopProof(proof: string, expected: ExpectedDpopRequest): Promise<VerifiedDpopProof> {
  let payload: JWTPayload
  let jwk: Record<string, unknown>
  try {
    const result = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: [...dpopAlgorithms],
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
      // iat is checked below against our own window, both ways; exp/nbf do not belong in a proof.
      currentDate: new Date(expected.now),
      clockTolerance: DPOP_IAT_WINDOW_MS / 1000,
    })
    payload = result.payload
    jwk = result.protectedHeader.jwk as unknown as Record<string, unknown>
  } catch (error) {
    throw new DpopProofError(describeJoseFailure(error))
  }
  const { jti, htm, htu, iat, nonce, ath } = payload as JWTPayload & Record<string, unknown>
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH)
    throw new DpopProofError('the DPoP proof jti must be a string of at most 200 characters')
  if (htm !== expected.method) throw new DpopProofError('the DPoP proof htm does not match the request method')
  if (typeof htu !== 'string' || !sameTargetUri(htu, expected.url))
    throw new DpopProofError('the DPoP proof htu does not match the request URI')
  if (typeof iat !== 'number' || Math.abs(iat * 1000 - expected.now) > DPOP_IAT_WINDOW_MS)
    throw new DpopProofError('the DPoP proof iat is outside the accepted window')
  if (nonce !== undefined && typeof nonce !== 'string')
    throw new DpopProofError('the DPoP proof nonce must be a string')
  if (expected.accessToken !== undefined) {
    if (typeof ath !== 'string' || !equalText(ath, accessTokenHash(expected.accessToken)))
      throw new DpopProofError('the DPoP proof ath does not match the access token')
  }
  return { jkt: await calculateJwkThumbprint(jwk, 'sha256'), jti, iat, nonce }
}

/** RFC 9449 §4.2: base64url of the SHA-256 of the access token's ASCII. */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url')
}

/** RFC 9449 §4.3 item 9: compared without query and fragment, after RFC 3986 §6.2.2/6.2.3 normalisation. */
function sameTargetUri(htu: string, expected: string): boolean {
  const a = URL.canParse(htu) ? new URL(htu) : null
  const b = new URL(expected)
  return a !== null && a.origin === b.origin && a.pathname === b.pathname
}

function equalText(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function describeJoseFailure(error: unknown): string {
  if (error instanceof errors.JOSEAlgNotAllowed)
    return `the DPoP proof must be signed with one of ${dpopAlgorithms.join(', ')}`
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the DPoP proof signature does not verify'
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'typ') return 'the DPoP proof must have typ dpop+jwt'
    return `the DPoP proof ${error.claim} claim is missing or invalid`
  }
  if (error instanceof errors.JWTExpired) return 'the DPoP proof has expired'
  return 'the DPoP proof is not a valid JWS with a public jwk in its header'
}
