import { importJWK, type CryptoKey, type JWK } from 'jose'
import { algorithmOfKey } from './algorithms.js'
import { VerifierError } from './errors.js'
import { fetchJson, maxAgeOf } from './http-fetch.js'

export interface VerificationKey {
  alg: string
  key: CryptoKey
}

export interface KeySetOptions {
  /** Resolves the JWKS URL (discovery runs once, lazily). */
  jwksUri: () => Promise<string>
  clock: () => number
  algorithms: readonly string[]
  /** An unknown kid refetches the key set at most once per this interval. */
  cooldownMs: number
  /** Used when the JWKS answer has no Cache-Control max-age. */
  defaultMaxAgeMs: number
  /** Bounds on the freshness the server asks for. */
  minMaxAgeMs: number
  maxMaxAgeMs: number
  timeoutMs: number
  onError: (error: unknown) => void
}

interface Loaded {
  keys: Map<string, VerificationKey>
  etag: string | null
  /** Epoch ms after which the set is refreshed in the background (it keeps serving meanwhile). */
  freshUntil: number
}

/**
 * The issuer's public keys by kid. Known kids never wait on the network: a stale set keeps
 * serving while one background refetch runs, and keeps serving if that fails (Latchkey down). An
 * unknown kid waits for a refetch, but at most once per cooldown, so a flood of random kids costs
 * the issuer one request per cooldown; after that, unknown kids fail closed.
 */
export function createKeySet(options: KeySetOptions) {
  let loaded: Loaded | null = null
  let lastAttemptAt = Number.NEGATIVE_INFINITY
  let fetching: Promise<void> | null = null

  async function load(): Promise<void> {
    lastAttemptAt = options.clock()
    try {
      const uri = await options.jwksUri()
      const fetched = await fetchJson(uri, {
        timeoutMs: options.timeoutMs,
        maxBytes: 1024 * 1024,
        etag: loaded?.etag ?? null,
      })
      const maxAge = maxAgeOf(fetched.cacheControl) ?? options.defaultMaxAgeMs
      const freshUntil = options.clock() + Math.min(options.maxMaxAgeMs, Math.max(options.minMaxAgeMs, maxAge))
      if (fetched.status === 304 && loaded) {
        loaded = { ...loaded, freshUntil }
        return
      }
      if (fetched.status !== 200) throw new Error(`${uri} answered HTTP ${fetched.status}`)
      const keys = await importKeys(fetched.body, options.algorithms)
      loaded = { keys, etag: fetched.etag, freshUntil }
    } catch (error) {
      options.onError(error)
      if (loaded) loaded = { ...loaded, freshUntil: options.clock() + options.cooldownMs }
      throw error
    }
  }

  /** One fetch at a time; callers arriving meanwhile share it. */
  function refresh(): Promise<void> {
    fetching ??= load().finally(() => {
      fetching = null
    })
    return fetching
  }

  async function keyFor(kid: string): Promise<VerificationKey> {
    const now = options.clock()
    if (loaded) {
      const key = loaded.keys.get(kid)
      if (now >= loaded.freshUntil) refresh().catch(() => undefined)
      if (key) return key
      if (now - lastAttemptAt < options.cooldownMs)
        throw new VerifierError('key_unknown', 'no published key has this kid')
    } else if (now - lastAttemptAt < options.cooldownMs && fetching === null) {
      throw new VerifierError('keys_unavailable', 'the issuer key set could not be loaded')
    }
    try {
      await refresh()
    } catch (error) {
      if (!loaded)
        throw new VerifierError('keys_unavailable', 'the issuer key set could not be loaded', { cause: error })
    }
    const key = loaded?.keys.get(kid)
    if (!key) throw new VerifierError('key_unknown', 'no published key has this kid')
    return key
  }

  return {
    keyFor,
    /** Fetches the key set now (start-up, tests, an operator's "rotate now"). */
    refresh,
    kids: (): string[] => [...(loaded?.keys.keys() ?? [])],
  }
}

/** Signature keys with a kid and a usable algorithm; anything else in the set is ignored. */
async function importKeys(body: unknown, algorithms: readonly string[]): Promise<Map<string, VerificationKey>> {
  const list = (body as { keys?: unknown } | null)?.keys
  if (!Array.isArray(list)) throw new Error('the JWKS has no keys array')
  const keys = new Map<string, VerificationKey>()
  for (const entry of list as JWK[]) {
    if (typeof entry !== 'object' || entry === null || typeof entry.kid !== 'string') continue
    if (entry.use !== undefined && entry.use !== 'sig') continue
    // A set must never carry private or symmetric material; such a key is skipped, not trusted.
    if (entry.kty === 'oct' || 'd' in entry) continue
    const alg = algorithmOfKey(entry)
    if (alg === null || !algorithms.includes(alg) || keys.has(entry.kid)) continue
    try {
      const key = await importJWK({ ...entry, ext: true }, alg)
      if (key instanceof Uint8Array) continue
      keys.set(entry.kid, { alg, key })
    } catch {
      // A malformed key is skipped; the others still verify.
    }
  }
  return keys
}
