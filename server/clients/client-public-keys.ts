import type { JWK } from 'jose'

// The public keys a private_key_jwt client signs its assertions with (RFC 7523 §2.2, OIDC Core
// §9). A key is copied by picking its public members, never by deleting private ones, and a key
// that carries private or symmetric material is refused outright: it was never meant to leave the
// client, and a set that holds one was exported by mistake.

/**
 * Asymmetric algorithms only; never `none`, never HMAC (RFC 8725 §3.1, §3.2). `Ed25519` is EdDSA
 * with Ed25519 under its fully-specified name (RFC 9864), which oauth4webapi signs with.
 */
export const ASSERTION_ALGORITHMS = ['ES256', 'RS256', 'PS256', 'EdDSA', 'Ed25519'] as const
type AssertionAlgorithm = (typeof ASSERTION_ALGORITHMS)[number]

/** A registered or fetched key, public members only, with the algorithms it may verify. */
export interface ClientPublicKey {
  kid: string | null
  algorithms: AssertionAlgorithm[]
  jwk: JWK
}

/** The most keys a client's set may hold: rotation needs two or three. */
const MAX_CLIENT_KEYS = 10

const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

const publicMembersOf: Record<string, string[]> = {
  EC: ['kty', 'crv', 'x', 'y'],
  RSA: ['kty', 'n', 'e'],
  OKP: ['kty', 'crv', 'x'],
}

/** The algorithms a key of this type and curve can verify (ES256 needs P-256, EdDSA Ed25519). */
function algorithmsForKeyType(jwk: Record<string, unknown>): AssertionAlgorithm[] {
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return ['ES256']
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return ['EdDSA', 'Ed25519']
  if (jwk.kty === 'RSA') return ['RS256', 'PS256']
  return []
}

/** One key of a client's set, or why it cannot be used. */
export function readClientPublicKey(entry: unknown): ClientPublicKey | string {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return 'is not a JSON object'
  const jwk = entry as Record<string, unknown>
  if (privateMembers.some((member) => member in jwk))
    return 'holds private or symmetric key material: register only the public key'
  // An own member only: a kty of "constructor" or "__proto__" must not reach Object's prototype.
  const members =
    typeof jwk.kty === 'string' && Object.hasOwn(publicMembersOf, jwk.kty) ? publicMembersOf[jwk.kty] : undefined
  if (members === undefined) return 'must be an EC (P-256), RSA or OKP (Ed25519) key'
  if (jwk.use !== undefined && jwk.use !== 'sig') return 'has a "use" other than "sig"'
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify')))
    return 'has "key_ops" without "verify"'
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid === '' || jwk.kid.length > 200))
    return 'has a "kid" that is not a string of 1 to 200 characters'
  for (const member of members) {
    if (typeof jwk[member] !== 'string' || jwk[member] === '') return `lacks "${member}"`
  }
  const possible = algorithmsForKeyType(jwk)
  if (possible.length === 0) return 'uses a curve other than P-256 or Ed25519'
  let algorithms = possible
  if (jwk.alg !== undefined) {
    if (!possible.includes(jwk.alg as AssertionAlgorithm))
      return `has "alg" ${JSON.stringify(jwk.alg)}, not one of ${possible.join(', ')} for this key`
    // One algorithm per key (RFC 8725 §3.1); EdDSA and Ed25519 are two names of the same one.
    algorithms = possible.includes('Ed25519') ? possible : [jwk.alg as AssertionAlgorithm]
  }
  const picked: JWK = {}
  for (const member of members) (picked as Record<string, unknown>)[member] = jwk[member]
  const kid = typeof jwk.kid === 'string' ? jwk.kid : null
  if (kid !== null) picked.kid = kid
  // Kept so the stored key still holds to its one algorithm when it is read back.
  if (typeof jwk.alg === 'string') picked.alg = jwk.alg
  return { kid, algorithms, jwk: picked }
}

/**
 * A client's JSON Web Key Set as registered (--jwks-file, the admin API): every key must be a
 * usable public key, kids unique. Returns the keys or the first problem, worded for the operator.
 */
export function readRegisteredJwks(body: unknown): { keys: ClientPublicKey[] } | string {
  const list = (body as { keys?: unknown } | null)?.keys
  if (typeof body !== 'object' || body === null || !Array.isArray(list))
    return 'must be a JSON object with a "keys" array'
  if (list.length === 0) return 'has no keys'
  if (list.length > MAX_CLIENT_KEYS) return `has more than ${MAX_CLIENT_KEYS} keys`
  const keys: ClientPublicKey[] = []
  for (const [index, entry] of list.entries()) {
    const key = readClientPublicKey(entry)
    if (typeof key === 'string') return `key ${index + 1} ${key}`
    if (key.kid !== null && keys.some((k) => k.kid === key.kid)) return `key ${index + 1} repeats the kid "${key.kid}"`
    keys.push(key)
  }
  if (keys.length > 1 && keys.some((k) => k.kid === null)) return 'has several keys, so each needs a "kid"'
  return { keys }
}

/**
 * A set fetched from a client's jwks_uri: unusable keys are skipped (the client may publish keys
 * for other purposes), the rest kept up to MAX_CLIENT_KEYS; a kid seen twice keeps the first.
 */
export function readFetchedJwks(body: unknown): ClientPublicKey[] {
  const list = (body as { keys?: unknown } | null)?.keys
  if (!Array.isArray(list)) throw new Error('the JWKS has no "keys" array')
  const keys: ClientPublicKey[] = []
  for (const entry of list) {
    const key = readClientPublicKey(entry)
    if (typeof key === 'string') continue
    if (key.kid !== null && keys.some((k) => k.kid === key.kid)) continue
    keys.push(key)
    if (keys.length === MAX_CLIENT_KEYS) break
  }
  return keys
}
