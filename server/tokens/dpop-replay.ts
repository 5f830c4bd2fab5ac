import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Db } from '../db/database.js'
import { claimDpopProofJti } from './dpop-proof-jti.store.js'

/** Takes a proof's jti once; false when it was already taken (RFC 9449 §11.1). */
export type ClaimDpopJti = (jkt: string, jti: string, expiresAt: number, now: number) => Promise<boolean>

// jtis are unique per key (RFC 9449 §4.2): two clients picking the same jti do not collide, and
// the store holds a hash, never what a client sent.
const idOf = (jkt: string, jti: string) => createHash('sha256').update(`${jkt} ${jti}`).digest('base64url')

/**
 * With Redis (REDIS_URL) every instance shares one SET NX with an expiry; otherwise the database
 * does (dpop_proof_jtis, purged by maintenance), which every instance shares as well.
 */
export function createDpopJtiClaimer(deps: { db: Db; redis: Redis | null }): ClaimDpopJti {
  const { redis, db } = deps
  if (redis !== null) {
    return async (jkt, jti, expiresAt, now) => {
      const ttl = Math.max(1, expiresAt - now)
      return (await redis.set(`latchkey:dpop-jti:${idOf(jkt, jti)}`, '1', 'PX', ttl, 'NX')) === 'OK'
    }
  }
  return (jkt, jti, expiresAt, now) => claimDpopProofJti(db, idOf(jkt, jti), expiresAt, now)
}
