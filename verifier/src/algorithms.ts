import type { JWK } from 'jose'

/** Asymmetric JWS algorithms only: never `none`, never HMAC (RFC 8725 §3.1, §3.2). */
export const DEFAULT_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
  'Ed25519',
] as const

const curveOfEc: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }

/** Whether a key of this type and curve may be used with `alg` (one algorithm per key, RFC 8725 §3.1). */
function isAlgorithmForKey(alg: string, jwk: JWK): boolean {
  if (alg in curveOfEc) return jwk.kty === 'EC' && jwk.crv === curveOfEc[alg]
  if (/^(RS|PS)(256|384|512)$/.test(alg)) return jwk.kty === 'RSA'
  if (alg === 'EdDSA' || alg === 'Ed25519') return jwk.kty === 'OKP' && jwk.crv === 'Ed25519'
  return false
}

/** The algorithm a published key is for: its `alg`, or the only one its curve allows. Null if ambiguous. */
export function algorithmOfKey(jwk: JWK): string | null {
  if (typeof jwk.alg === 'string') return isAlgorithmForKey(jwk.alg, jwk) ? jwk.alg : null
  if (jwk.kty === 'EC') return Object.keys(curveOfEc).find((alg) => curveOfEc[alg] === jwk.crv) ?? null
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA'
  // An RSA key without alg could be RS* or PS*: refusing it keeps one algorithm per key.
  return null
}

export function assertAlgorithms(algorithms: readonly string[]): void {
  if (algorithms.length === 0) throw new TypeError('algorithms must not be empty')
  for (const alg of algorithms) {
    if (!(DEFAULT_ALGORITHMS as readonly string[]).includes(alg))
      throw new TypeError(`algorithm ${alg} is not allowed (asymmetric JWS algorithms only)`)
  }
}
