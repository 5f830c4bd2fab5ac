import { createHash, timingSafeEqual } from 'node:crypto'
import { calculateJwkThumbprint, EmbeddedJWK, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import { VerifierError } from './errors.js'

/** RFC 9449 §5.1: the algorithms Latchkey accepts for proofs; asymmetric only. */
export const DPOP_ALGORITHMS = ['ES256', 'EdDSA', 'RS256', 'PS256'] as const

/**
 * Where proof jtis are remembered (RFC 9449 §11.1). With several instances of a service, give
 * them one shared store (Redis `SET key 1 PX ttl NX` is enough), or a replay on another instance
 * succeeds.
 */
export interface DpopReplayStore {
  /** Records `key` until `expiresAt` (epoch ms); false if it is already recorded. */
  claim(key: string, expiresAt: number): Promise<boolean>
}

/**
 * One process only, at most `maxEntries` live jtis (default 100,000). Each entry lives a fixed span
 * after its proof's iat, and iats lie within a window of now, so insertion order is close to expiry
 * order: expired entries leave from the front, a few per claim. When every entry is still live the
 * claim is refused (the proof is invalid) rather than forgetting a live jti, which would let a flood
 * of proofs open the way to a replay.
 */
export function createMemoryDpopReplayStore(
  options: { clock?: () => number; maxEntries?: number } = {},
): DpopReplayStore {
  const clock = options.clock ?? Date.now
  const maxEntries = options.maxEntries ?? 100_000
  const seen = new Map<string, number>()
  return {
    async claim(key, expiresAt) {
      const now = clock()
      for (const [k, exp] of seen) {
        if (exp > now) break
        seen.delete(k)
      }
      const until = seen.get(key)
      if (until !== undefined && until > now) return false
      if (until === undefined && seen.size >= maxEntries)
        throw new VerifierError('dpop_proof_invalid', 'too many DPoP proofs are in flight: try again shortly')
      seen.delete(key)
      seen.set(key, expiresAt)
      return true
    },
  }
}

export interface DpopRequest {
  /** The DPoP header(s) of the request. */
  proof: string | string[] | undefined
  /** The request method, e.g. `GET`. */
  method: string
  /** The request URI as the client addressed it (scheme, host, path); query and fragment are ignored. */
  url: string
}

export interface DpopCheckOptions {
  replayStore: DpopReplayStore
  clock: () => number
  /** How far a proof's iat may lie from our clock, either way, in seconds. */
  iatWindowSeconds: number
}

const MAX_PROOF_LENGTH = 8 * 1024
const MAX_JTI_LENGTH = 200

const invalidProof = (message: string, cause?: unknown) =>
  new VerifierError('dpop_proof_invalid', message, cause === undefined ? {} : { cause })

/**
 * RFC 9449 §4.3 and §7.1 for a resource request: one proof, typ dpop+jwt, an allowed asymmetric
 * alg, a public jwk that verifies it and whose RFC 7638 thumbprint is the token's cnf.jkt, htm and
 * htu of this request, iat inside the window, ath of this access token, and a jti not seen before.
 */
export async function checkDpopProof(
  request: DpopRequest,
  accessToken: string,
  jkt: string,
  options: DpopCheckOptions,
): Promise<void> {
  const proof = request.proof
  if (proof === undefined) throw invalidProof('a DPoP proof is required')
  if (Array.isArray(proof) || proof.includes(',')) throw invalidProof('exactly one DPoP header is required')
  if (proof.length > MAX_PROOF_LENGTH) throw invalidProof('the DPoP proof is too large')
  const now = options.clock()
  let payload: JWTPayload
  let jwk: Record<string, unknown>
  try {
    const result = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: [...DPOP_ALGORITHMS],
      requiredClaims: ['jti', 'htm', 'htu', 'iat', 'ath'],
      currentDate: new Date(now),
      clockTolerance: options.iatWindowSeconds,
    })
    payload = result.payload
    jwk = result.protectedHeader.jwk as unknown as Record<string, unknown>
  } catch (error) {
    if (error instanceof joseErrors.JOSEAlgNotAllowed)
      throw invalidProof('the DPoP proof algorithm is not allowed', error)
    throw invalidProof('the DPoP proof is invalid', error)
  }
  const { jti, htm, htu, iat, ath } = payload as JWTPayload & Record<string, unknown>
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH)
    throw invalidProof('the DPoP proof jti is invalid')
  if (htm !== request.method) throw invalidProof('the DPoP proof htm does not match the request method')
  if (typeof htu !== 'string' || !sameTargetUri(htu, request.url))
    throw invalidProof('the DPoP proof htu does not match the request URI')
  if (typeof iat !== 'number' || Math.abs(iat * 1000 - now) > options.iatWindowSeconds * 1000)
    throw invalidProof('the DPoP proof iat is outside the accepted window')
  const expectedAth = createHash('sha256').update(accessToken, 'ascii').digest('base64url')
  if (typeof ath !== 'string' || !equalText(ath, expectedAth))
    throw invalidProof('the DPoP proof ath does not match the access token')
  const thumbprint = await calculateJwkThumbprint(jwk, 'sha256')
  if (!equalText(thumbprint, jkt)) throw invalidProof('the DPoP proof key is not the key the token is bound to')
  const replayKey = createHash('sha256').update(`${thumbprint} ${jti}`).digest('base64url')
  if (!(await options.replayStore.claim(replayKey, iat * 1000 + 2 * options.iatWindowSeconds * 1000)))
    throw invalidProof('the DPoP proof was already used')
}

/** RFC 9449 §4.3 item 9: scheme, host and port normalised by URL; query and fragment ignored. */
function sameTargetUri(htu: string, expected: string): boolean {
  if (!URL.canParse(htu) || !URL.canParse(expected)) return false
  const a = new URL(htu)
  const b = new URL(expected)
  return a.origin === b.origin && a.pathname === b.pathname
}

function equalText(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}
