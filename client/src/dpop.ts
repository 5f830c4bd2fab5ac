import { SignJWT, calculateJwkThumbprint, exportJWK, type JWK } from 'jose'
import { randomText, sha256 } from './pkce.js'

/** Signs DPoP proofs (RFC 9449) with one key pair and keeps the nonces servers hand out. */
export interface DpopSigner {
  /** RFC 7638 SHA-256 thumbprint of the public key: the `cnf.jkt` of the tokens bound to it. */
  readonly jkt: string
  /**
   * A proof for one request: `htu` is the URL without query and fragment (RFC 9449 §4.2), `ath`
   * the access token's hash when one is sent, `nonce` the last one this URL's origin asked for.
   */
  proof(method: string, url: string, accessToken?: string): Promise<string>
  /** Keeps the `DPoP-Nonce` a response carries, for the next proof to its origin (RFC 9449 §8). */
  remember(url: string, response: Response): void
}

/** Builds a signer around a key pair whose private half never leaves WebCrypto. */
export async function createDpopSigner(keys: CryptoKeyPair): Promise<DpopSigner> {
  const { kty, crv, x, y } = await exportJWK(keys.publicKey)
  // The public members only, picked rather than copied, so nothing else can reach the header.
  const jwk: JWK = { kty, crv, x, y }
  const jkt = await calculateJwkThumbprint(jwk, 'sha256')
  const nonces = new Map<string, string>()
  return {
    jkt,
    async proof(method, url, accessToken) {
      const target = new URL(url)
      const nonce = nonces.get(target.origin)
      const claims: Record<string, string> = {
        htm: method.toUpperCase(),
        htu: `${target.origin}${target.pathname}`,
        jti: randomText(16),
      }
      if (accessToken !== undefined) claims.ath = await sha256(accessToken)
      if (nonce !== undefined) claims.nonce = nonce
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .setIssuedAt()
        .sign(keys.privateKey)
    },
    remember(url, response) {
      const nonce = response.headers.get('dpop-nonce')
      if (nonce) nonces.set(new URL(url).origin, nonce)
    },
  }
}

const DATABASE = 'latchkey-dpop'
const STORE = 'keys'

/**
 * The key pair named `name` from IndexedDB, or a new one stored there: ES256 (P-256) made with
 * `extractable: false`, so scripts (an XSS included) can use it while the page lives but never read
 * the private key out. IndexedDB keeps CryptoKeys by structured clone, which keeps them
 * non-extractable, so the same key signs after a reload and the tokens bound to it keep working.
 */
export async function loadOrCreateDpopKeys(name: string): Promise<CryptoKeyPair> {
  const db = await openDatabase()
  try {
    const stored = await readKeys(db, name)
    if (stored) return stored
    const created = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])
    // Another tab may have stored one meanwhile: the first stored wins, so all tabs share one key.
    return await addKeys(db, name, created)
  } finally {
    db.close()
  }
}

function openDatabase(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1)
    request.onupgradeneeded = () => request.result.createObjectStore(STORE)
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error ?? new Error('IndexedDB cannot be opened'))
  })
}

function isKeyPair(value: unknown): value is CryptoKeyPair {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as CryptoKeyPair).privateKey instanceof CryptoKey &&
    (value as CryptoKeyPair).publicKey instanceof CryptoKey
  )
}

function readKeys(db: IDBDatabase, name: string): Promise<CryptoKeyPair | null> {
  return new Promise((resolve, reject) => {
    const request = db.transaction(STORE, 'readonly').objectStore(STORE).get(name)
    request.onsuccess = () => resolve(isKeyPair(request.result) ? request.result : null)
    request.onerror = () => reject(request.error ?? new Error('IndexedDB read failed'))
  })
}

function addKeys(db: IDBDatabase, name: string, keys: CryptoKeyPair): Promise<CryptoKeyPair> {
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(STORE, 'readwrite')
    const store = transaction.objectStore(STORE)
    let result = keys
    const existing = store.get(name)
    existing.onsuccess = () => {
      if (isKeyPair(existing.result)) result = existing.result
      else store.put(keys, name)
    }
    transaction.oncomplete = () => resolve(result)
    transaction.onerror = () => reject(transaction.error ?? new Error('IndexedDB write failed'))
  })
}
