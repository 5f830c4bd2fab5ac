import { createHmac } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Clock } from '../clock.js'
import { isOutage } from '../db/is-outage.js'
import { ServiceUnavailable } from '../errors.js'

// Per-account progressive back-off (ASVS 6.3.1, NIST SP 800-63B §5.2.2). The counter belongs
// to the canonical email whether or not an account exists, so it reveals nothing and an attacker
// spreading guesses across IPs gains nothing:
// - the first FREE_FAILURES consecutive failures cost nothing;
// - then every attempt waits 2^(failures - FREE_FAILURES) seconds after the last failure, at most
//   MAX_DELAY;
// - LOCK_AFTER consecutive failures lock password sign-in (NIST: no more than 100) until a
//   password reset or until FORGET_AFTER has passed since the last failure: nothing an attacker
//   can impose is permanent, and all state is forgotten FORGET_AFTER after the last failure; a
//   success clears it.

const FREE_FAILURES = 5
const MAX_DELAY_MS = 15 * 60_000
const LOCK_AFTER = 100
const FORGET_AFTER_MS = 24 * 3_600_000

interface BackoffState {
  failures: number
  lastFailureAt: number
}

export interface BackoffStore {
  get(key: string, now: number): Promise<BackoffState | null>
  /** Atomically counts one more failure at `now` and returns the new state. */
  addFailure(key: string, now: number, ttlMs: number): Promise<BackoffState>
  clear(key: string): Promise<void>
}

export type BackoffVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number; locked: boolean }

export function backoffDelayMs(failures: number): number {
  if (failures < FREE_FAILURES) return 0
  return Math.min(MAX_DELAY_MS, 1000 * 2 ** (failures - FREE_FAILURES))
}

/**
 * `keySecret` keys an HMAC of the address that names its state in the store: the store (Redis,
 * shared with other tools) never holds the address, and a list of candidate addresses cannot be
 * checked against its keys without the secret. Instances sharing a store must share the secret.
 */
export function createLoginBackoff(store: BackoffStore, clock: Clock, keySecret: Uint8Array) {
  const keyOf = (account: string) => createHmac('sha256', keySecret).update(account).digest('hex')
  return {
    async check(account: string): Promise<BackoffVerdict> {
      const state = await store.get(keyOf(account), clock.now())
      // Stores expire state themselves (Redis by its own clock); this check keeps the rule exact.
      if (!state || clock.now() - state.lastFailureAt >= FORGET_AFTER_MS) return { allowed: true }
      if (state.failures >= LOCK_AFTER) {
        return {
          allowed: false,
          locked: true,
          retryAfterSeconds: Math.max(1, Math.ceil((state.lastFailureAt + FORGET_AFTER_MS - clock.now()) / 1000)),
        }
      }
      const wait = state.lastFailureAt + backoffDelayMs(state.failures) - clock.now()
      return wait > 0 ? { allowed: false, locked: false, retryAfterSeconds: Math.ceil(wait / 1000) } : { allowed: true }
    },
    async recordFailure(account: string): Promise<void> {
      await store.addFailure(keyOf(account), clock.now(), FORGET_AFTER_MS)
    },
    async recordSuccess(account: string): Promise<void> {
      await store.clear(keyOf(account))
    },
    /** After a password reset: the only way out of the lock. */
    async reset(account: string): Promise<void> {
      await store.clear(keyOf(account))
    },
  }
}

/** For one instance: bounded, oldest entries dropped first. */
export function createMemoryBackoffStore(maxEntries = 100_000): BackoffStore {
  const entries = new Map<string, BackoffState & { expiresAt: number }>()
  return {
    async get(key, now) {
      const entry = entries.get(key)
      if (!entry) return null
      if (entry.expiresAt <= now) {
        entries.delete(key)
        return null
      }
      return { failures: entry.failures, lastFailureAt: entry.lastFailureAt }
    },
    async addFailure(key, now, ttlMs) {
      const previous = entries.get(key)
      const fresh = !previous || now >= previous.expiresAt
      const next = { failures: fresh ? 1 : previous.failures + 1, lastFailureAt: now, expiresAt: now + ttlMs }
      entries.delete(key)
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!)
      entries.set(key, next)
      return { failures: next.failures, lastFailureAt: now }
    },
    async clear(key) {
      entries.delete(key)
    },
  }
}

/** Redis unreachable: sign-in waits (503) rather than skipping the brute-force check or failing with 500. */
async function orUnavailable<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation
  } catch (error) {
    // Only Redis being unreachable; anything else is a bug and stays one.
    if (!isOutage(error)) throw error
    throw new ServiceUnavailable('sign-in protection is temporarily unavailable, retry shortly', 5)
  }
}

/** Shared by every instance: HINCRBY and the timestamp in one MULTI, with the TTL renewed. */
export function createRedisBackoffStore(redis: Redis, prefix = 'latchkey:backoff:'): BackoffStore {
  return {
    async get(key) {
      const values = await orUnavailable(redis.hmget(prefix + key, 'failures', 'last'))
      if (values[0] === null || values[1] === null) return null
      return { failures: Number(values[0]), lastFailureAt: Number(values[1]) }
    },
    async addFailure(key, now, ttlMs) {
      const result = await orUnavailable(
        redis
          .multi()
          .hincrby(prefix + key, 'failures', 1)
          .hset(prefix + key, 'last', String(now))
          .pexpire(prefix + key, ttlMs)
          .exec(),
      )
      const failures = Number(result?.[0]?.[1] ?? 1)
      return { failures, lastFailureAt: now }
    },
    async clear(key) {
      await orUnavailable(redis.del(prefix + key))
    },
  }
}
