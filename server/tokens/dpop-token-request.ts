import type { IncomingHttpHeaders } from 'node:http'
import type { Client } from '../clients/client.js'
import type { Deps } from '../deps.js'
import { InvalidDpopProof, UseDpopNonce } from './dpop-errors.js'
import { DPOP_IAT_WINDOW_MS, DpopProofError, verifyDpopProof } from './dpop-proof.js'

/** The DPoP key a token request proved possession of (RFC 9449 §5), or null without a proof. */
export interface DpopBinding {
  jkt: string | null
}

/** RFC 9449 §5: token_type DPoP for a bound access token, Bearer otherwise. */
export function tokenTypeFor(binding: DpopBinding | undefined): 'DPoP' | 'Bearer' {
  return binding?.jkt == null ? 'Bearer' : 'DPoP'
}

/** The one DPoP header of a request, if any; several are refused (RFC 9449 §4.3 item 1). */
export function readDpopHeader(headers: IncomingHttpHeaders): string | null {
  const value = headers.dpop
  if (value === undefined) return null
  // Node joins repeated headers with ", "; a compact JWS has no comma.
  if (Array.isArray(value) || value.includes(',')) throw new InvalidDpopProof('exactly one DPoP header is required')
  return value
}

/**
 * RFC 9449 §5 and §8 at the token endpoint: a valid proof for POST to this endpoint, the current
 * server nonce (when LATCHKEY_DPOP_NONCE is on), a jti never seen before, and for a client
 * registered with require_dpop a proof at all.
 */
export async function checkTokenRequestProof(
  deps: Pick<Deps, 'config' | 'clock' | 'dpop'>,
  headers: IncomingHttpHeaders,
  client: Client,
): Promise<DpopBinding> {
  const header = readDpopHeader(headers)
  if (header === null) {
    if (client.requireDpop) throw new InvalidDpopProof('this client must send a DPoP proof with its token requests')
    return { jkt: null }
  }
  const now = deps.clock.now()
  let proof
  try {
    proof = await verifyDpopProof(header, { method: 'POST', url: `${deps.config.issuer}/oauth/token`, now })
  } catch (error) {
    if (error instanceof DpopProofError) throw new InvalidDpopProof(error.message)
    throw error
  }
  if (deps.config.dpopNonce && !deps.dpop.nonces.isValid(proof.nonce))
    throw new UseDpopNonce(deps.dpop.nonces.current())
  // Kept for as long as the proof's iat is inside the window, with our clock's skew on top.
  const expiresAt = proof.iat * 1000 + DPOP_IAT_WINDOW_MS + deps.config.clockSkewMs
  if (!(await deps.dpop.claimJti(proof.jkt, proof.jti, expiresAt, now)))
    throw new InvalidDpopProof('the DPoP proof was already used: send a new proof with each request')
  return { jkt: proof.jkt }
}
