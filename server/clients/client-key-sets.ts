import type { Clock } from '../clock.js'
import type { Client } from './client.js'
import { readClientPublicKey, readFetchedJwks, type ClientPublicKey } from './client-public-keys.js'

// The keys of private_key_jwt clients. An inline set is read from the client row; a jwks_uri is
// fetched and cached, following the verifier package's approach (verifier/src/key-set.ts): a known
// kid never waits on the network (a stale set keeps serving while one background refetch runs, and
// keeps serving if the client's server is down), and an unknown kid refetches at most once per
// cooldown, so a flood of made-up kids costs the client's server one request per cooldown. A set
// that could not be refreshed for maxStaleMs is dropped: keys the client can no longer vouch for
// (its server gone, the domain lapsed) must not authenticate it forever. 404 and 410 mean the
// client publishes no keys at all: an empty set.

export interface KeySetLimits {
  /** An unknown kid refetches the set at most once per this interval, per client. */
  cooldownMs: number
  /** Bounds on the freshness the client's Cache-Control asks for; the default without one. */
  minMaxAgeMs: number
  maxMaxAgeMs: number
  defaultMaxAgeMs: number
  timeoutMs: number
  maxBytes: number
  /** Clients whose fetched sets are kept; the least recently loaded goes first. */
  maxClients: number
  /** A set not fetched successfully for this long is dropped, not served. */
  maxStaleMs: number
}

const defaultKeySetLimits: KeySetLimits = {
  cooldownMs: 30_000,
  minMaxAgeMs: 60_000,
  maxMaxAgeMs: 3_600_000,
  defaultMaxAgeMs: 300_000,
  timeoutMs: 5_000,
  maxBytes: 64 * 1024,
  maxClients: 1_000,
  maxStaleMs: 86_400_000,
}

interface Entry {
  keys: ClientPublicKey[] | null
  freshUntil: number
  lastAttemptAt: number
  lastSuccessAt: number
  fetching: Promise<void> | null
}

/** RFC 9111 §5.2.2.1 max-age in milliseconds; null when absent. no-store/no-cache count as 0. */
function maxAgeOf(cacheControl: string | null): number | null {
  if (!cacheControl) return null
  if (/(^|,)\s*(no-store|no-cache)\s*(,|$)/i.test(cacheControl)) return 0
  const match = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl)
  return match ? Number(match[1]) * 1000 : null
}

/**
 * One GET with a deadline, no redirects (a redirect could lead anywhere) and no cookies or
 * credentials; the body is read up to `maxBytes` and the request abandoned beyond.
 */
async function fetchJwks(uri: string, limits: KeySetLimits): Promise<{ body: unknown; maxAgeMs: number | null }> {
  const response = await fetch(uri, {
    headers: { accept: 'application/jwk-set+json, application/json' },
    redirect: 'error',
    credentials: 'omit',
    signal: AbortSignal.timeout(limits.timeoutMs),
  })
  if (response.status === 404 || response.status === 410) {
    await response.body?.cancel()
    return { body: { keys: [] }, maxAgeMs: maxAgeOf(response.headers.get('cache-control')) }
  }
  if (response.status !== 200 || response.body === null) {
    await response.body?.cancel()
    throw new Error(`${uri} answered HTTP ${response.status}`)
  }
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limits.maxBytes) {
      await reader.cancel()
      throw new Error(`${uri} answered more than ${limits.maxBytes} bytes`)
    }
    chunks.push(value)
  }
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown
  return { body, maxAgeMs: maxAgeOf(response.headers.get('cache-control')) }
}

export interface ClientKeySets {
  /**
   * The client's keys that may verify a token with this header: by kid when it names one, else
   * every key for the algorithm. Empty when none does (after at most one refetch per cooldown).
   */
  keysFor(client: Client, header: { alg: string; kid: string | null }): Promise<ClientPublicKey[]>
}

function matching(keys: ClientPublicKey[], header: { alg: string; kid: string | null }): ClientPublicKey[] {
  return keys.filter(
    (key) =>
      (header.kid === null || key.kid === header.kid) && (key.algorithms as readonly string[]).includes(header.alg),
  )
}

export function createClientKeySets(
  deps: { clock: Clock; onError: (error: unknown, uri: string) => void },
  limits: KeySetLimits = defaultKeySetLimits,
): ClientKeySets {
  // Keyed by client, its last update and URL: a client an operator updated starts afresh.
  const entries = new Map<string, Entry>()

  function entryFor(client: Client & { jwksUri: string }): Entry {
    const key = `${client.id} ${client.updatedAt} ${client.jwksUri}`
    let entry = entries.get(key)
    if (entry === undefined) {
      if (entries.size >= limits.maxClients) entries.delete(entries.keys().next().value!)
      entry = {
        keys: null,
        freshUntil: 0,
        lastAttemptAt: Number.NEGATIVE_INFINITY,
        lastSuccessAt: Number.NEGATIVE_INFINITY,
        fetching: null,
      }
      entries.set(key, entry)
    }
    return entry
  }

  async function load(uri: string, entry: Entry): Promise<void> {
    entry.lastAttemptAt = deps.clock.now()
    try {
      const fetched = await fetchJwks(uri, limits)
      const keys = readFetchedJwks(fetched.body)
      const maxAge = Math.min(
        limits.maxMaxAgeMs,
        Math.max(limits.minMaxAgeMs, fetched.maxAgeMs ?? limits.defaultMaxAgeMs),
      )
      entry.keys = keys
      entry.lastSuccessAt = deps.clock.now()
      entry.freshUntil = entry.lastSuccessAt + maxAge
    } catch (error) {
      deps.onError(error, uri)
      // A set that cannot be refreshed keeps serving; the next try waits for the cooldown.
      entry.freshUntil = deps.clock.now() + limits.cooldownMs
      throw error
    }
  }

  /** One fetch at a time per client; callers arriving meanwhile share it. */
  function refresh(uri: string, entry: Entry): Promise<void> {
    entry.fetching ??= load(uri, entry).finally(() => {
      entry.fetching = null
    })
    return entry.fetching
  }

  async function fetchedKeysFor(
    client: Client & { jwksUri: string },
    header: { alg: string; kid: string | null },
  ): Promise<ClientPublicKey[]> {
    const entry = entryFor(client)
    const now = deps.clock.now()
    if (entry.keys !== null && now - entry.lastSuccessAt > limits.maxStaleMs) entry.keys = null
    if (entry.keys !== null) {
      const found = matching(entry.keys, header)
      // Decided before a refresh starts, since starting one marks the attempt.
      const recentlyTried = now - entry.lastAttemptAt < limits.cooldownMs
      const stale = now >= entry.freshUntil
      const refreshing = stale ? refresh(client.jwksUri, entry) : null
      refreshing?.catch(() => undefined)
      if (found.length > 0) return found
      // Nothing matched (a rotated key?): wait for the refresh a stale set just started.
      if (refreshing === null && recentlyTried) return []
    } else if (now - entry.lastAttemptAt < limits.cooldownMs && entry.fetching === null) {
      return []
    }
    await refresh(client.jwksUri, entry).catch(() => undefined)
    return entry.keys === null ? [] : matching(entry.keys, header)
  }

  return {
    async keysFor(client, header) {
      if (client.jwksUri !== null) return fetchedKeysFor({ ...client, jwksUri: client.jwksUri }, header)
      const registered = (client.jwks ?? []).map(readClientPublicKey).filter((k) => typeof k !== 'string')
      return matching(registered, header)
    },
  }
}
