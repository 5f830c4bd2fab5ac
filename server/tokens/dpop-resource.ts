import type { FastifyRequest } from 'fastify'
import type { Deps } from '../deps.js'
import { InvalidToken } from '../errors.js'
import type { AccessTokenClaims } from '../sessions/verify-access-token.js'
import { DpopResourceError, InvalidDpopProof } from './dpop-errors.js'
import { DPOP_IAT_WINDOW_MS, DpopProofError, verifyDpopProof } from './dpop-proof.js'
import { readDpopHeader } from './dpop-token-request.js'

/** The access token of an Authorization header with the Bearer or the DPoP scheme (RFC 6750 §2.1, RFC 9449 §7.1). */
function readAuthorization(request: FastifyRequest): { scheme: 'bearer' | 'dpop'; token: string } | null {
  const match = /^(Bearer|DPoP) ([A-Za-z0-9._~+/-]+=*)$/i.exec(request.headers.authorization ?? '')
  if (!match) return null
  return { scheme: match[1]!.toLowerCase() === 'dpop' ? 'dpop' : 'bearer', token: match[2]! }
}

/**
 * invalid_token for a request to one of Latchkey's own resources, challenging with the scheme it
 * used: DPoP for a DPoP-scheme request (RFC 9449 §7.1), Bearer otherwise (RFC 6750 §3).
 */
export function invalidTokenFor(request: FastifyRequest, description?: string): InvalidToken | DpopResourceError {
  if (readAuthorization(request)?.scheme === 'dpop')
    return new DpopResourceError('invalid_token', description ?? 'the access token is invalid, expired or revoked')
  return new InvalidToken(description)
}

/**
 * RFC 9449 §7 at one of Latchkey's own resources (`path` under the issuer): a Bearer token must
 * not be DPoP-bound; a DPoP token needs a proof for this method and URI, with its ath, signed by
 * the key of the token's cnf.jkt, and a jti never seen before. Null when no token is presented or
 * it does not verify; the caller answers invalid_token.
 */
export async function verifyResourceAccessToken(
  deps: Pick<Deps, 'verifier' | 'config' | 'clock' | 'dpop'>,
  request: FastifyRequest,
  path: string,
): Promise<AccessTokenClaims | null> {
  const presented = readAuthorization(request)
  if (presented === null) return null
  const claims = await deps.verifier.verifyAccessToken(presented.token)
  if (!claims) {
    if (presented.scheme === 'dpop') throw invalidTokenFor(request)
    return null
  }
  const jkt = claims.cnf?.jkt
  if (presented.scheme === 'bearer') {
    if (jkt !== undefined)
      throw new DpopResourceError('invalid_token', 'this access token is bound to a DPoP key: use the DPoP scheme')
    return claims
  }
  if (jkt === undefined) throw new DpopResourceError('invalid_token', 'this access token is not DPoP-bound')
  let header: string | null
  try {
    header = readDpopHeader(request.headers)
  } catch (error) {
    if (error instanceof InvalidDpopProof) throw new DpopResourceError('invalid_dpop_proof', error.description)
    throw error
  }
  if (header === null) throw new DpopResourceError('invalid_dpop_proof', 'a DPoP proof is required')
  const now = deps.clock.now()
  try {
    const proof = await verifyDpopProof(header, {
      method: request.method,
      url: `${deps.config.issuer}${path}`,
      now,
      accessToken: presented.token,
    })
    if (proof.jkt !== jkt) throw new DpopProofError('the DPoP proof is not signed by the key the token is bound to')
    const expiresAt = proof.iat * 1000 + DPOP_IAT_WINDOW_MS + deps.config.clockSkewMs
    if (!(await deps.dpop.claimJti(proof.jkt, proof.jti, expiresAt, now)))
      throw new DpopProofError('the DPoP proof was already used: send a new proof with each request')
  } catch (error) {
    if (error instanceof DpopProofError) throw new DpopResourceError('invalid_dpop_proof', error.message)
    throw error
  }
  return claims
}
