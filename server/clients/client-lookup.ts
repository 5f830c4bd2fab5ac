import type { Clock } from '../clock.js'
import type { Db } from '../db/database.js'
import type { Client } from './client.js'
import { findClientById } from './client.store.js'

export interface FindClient {
  (id: string): Promise<Client | null>
  /** Drops a client from this instance's cache, so the next lookup reads the database. */
  forget(id: string): void
}

/** How long a client row is trusted from memory: a deleted client stops working within this. */
export const CLIENT_CACHE_TTL_MS = 5_000
const MAX_CACHED_CLIENTS = 10_000

/**
 * When a client's access tokens count again after a cut-off at `cutOffAt` (epoch ms, a whole
 * second): another instance may have accepted the old credentials from its cache for
 * CLIENT_CACHE_TTL_MS, so tokens issued until then are void. iat has whole seconds, so the end
 * rounds up. Verification (verify-access-token.ts), the revocation feed and the token endpoint
 * (which refuses the client until then rather than issue a void token) all use this.
 */
export function tokensValidFrom(cutOffAt: number): number {
  return Math.ceil((cutOffAt + CLIENT_CACHE_TTL_MS) / 1000) * 1000
}

/**
 * Client lookups for the token endpoint. Every token request authenticates its client, and the
 * database round trip measured as a fifth of a request's cost, so known clients are kept in
 * memory briefly. Unknown ids are never cached: they cannot fill the cache.
 */
export function createClientLookup(deps: { db: Db; clock: Clock }): FindClient {
  const cache = new Map<string, { client: Client; until: number }>()
  const find = async (id: string): Promise<Client | null> => {
    const now = deps.clock.now()
    const hit = cache.get(id)
    if (hit && hit.until > now) return hit.client
    const client = await findClientById(deps.db, id)
    cache.delete(id)
    if (client) {
      if (cache.size >= MAX_CACHED_CLIENTS) cache.delete(cache.keys().next().value!)
      cache.set(id, { client, until: now + CLIENT_CACHE_TTL_MS })
    }
    return client
  }
  return Object.assign(find, { forget: (id: string) => void cache.delete(id) })
}
