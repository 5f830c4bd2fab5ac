import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Db } from '../db/database.js'
import { claimAssertionJti } from './client-assertion-jti.store.js'

/**
 * RFC 7523 §3 item 7: a client assertion's jti is accepted once. With REDIS_URL the used jtis live
 * in Redis (SET NX with an expiry, one round trip), otherwise in the database; both are shared by
 * every instance. The key is a hash of client id and jti: two clients may pick the same jti.
 */
export interface AssertionReplayGuard {
  /** True the first time this client presents this jti before `expiresAt` (epoch ms). */
  claim(clientId: string, jti: string, expiresAt: number, now: number): Promise<boolean>
}

function jtiHash(clientId: string, jti: string): string {
  return createHash('sha256').update(clientId).update('\0').update(jti).digest('base64url')
}

export function createAssertionReplayGuard(deps: { db: Db; redis: Redis | null }): AssertionReplayGuard {
  const { db, redis } = deps
  if (redis === null)
    return { claim: (clientId, jti, expiresAt, now) => claimAssertionJti(db, jtiHash(clientId, jti), expiresAt, now) }
  return {
    async claim(clientId, jti, expiresAt, now) {
      // Redis expires the key by its own clock; the TTL is never below one second.
      const ttlMs = Math.max(1_000, Math.ceil(expiresAt - now))
      const set = await redis.set(`latchkey:assertion-jti:${jtiHash(clientId, jti)}`, '1', 'PX', ttlMs, 'NX')
      return set === 'OK'
    },
  }
}
