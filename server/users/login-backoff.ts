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
  /**
   * Atomically: if the state allows an attempt at `now`, counts it as a failure (the attempt is
   * presumed wrong until it succeeds) and returns `reserved: true`; otherwise changes nothing.
   * Returns the state as it was before.
   */
  reserve(key: string, now: number, ttlMs: number): Promise<{ reserved: boolean; before: BackoffState | null }>
  /** Takes back one reserved failure (a right password whose second step is still to come). */
  release(key: string, previous: BackoffState | null): Promise<void>
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
/** The rule itself, shared by every store's atomic reservation (the Redis script mirrors it). */
function verdictFor(state: BackoffState | null, now: number): BackoffVerdict {
  // Stores expire state themselves (Redis by its own clock); this check keeps the rule exact.
  if (!state || now - state.lastFailureAt >= FORGET_AFTER_MS) return { allowed: true }
  if (state.failures >= LOCK_AFTER) {
    return {
      allowed: false,
      locked: true,
      retryAfterSeconds: Math.max(1, Math.ceil((state.lastFailureAt + FORGET_AFTER_MS - now) / 1000)),
    }
  }
  const wait = state.lastFailureAt + backoffDelayMs(state.failures) - now
  return wait > 0 ? { allowed: false, locked: false, retryAfterSeconds: Math.ceil(wait / 1000) } : { allowed: true }
}

/** An attempt counted before its guess is checked; `release` takes it back if no failure follows. */
export interface BackoffReservation {
  release(): Promise<void>
}

export function createLoginBackoff(store: BackoffStore, clock: Clock, keySecret: Uint8Array) {
  const keyOf = (account: string) => createHmac('sha256', keySecret).update(account).digest('hex')
  return {
    async check(account: string): Promise<BackoffVerdict> {
      return verdictFor(await store.get(keyOf(account), clock.now()), clock.now())
    },
    /**
     * Count first, verify after (finding M3): the attempt is counted as a failure in the same
     * atomic step that finds it allowed, so of N parallel guesses only as many are evaluated as
     * the policy allows one at a time. A success then clears the count (`recordSuccess`); a right
     * password with a second step to come takes its reservation back (`release`).
     */
    async reserve(account: string): Promise<BackoffVerdict & { reservation?: BackoffReservation }> {
      const key = keyOf(account)
      const now = clock.now()
      const { reserved, before } = await store.reserve(key, now, FORGET_AFTER_MS)
      if (!reserved) {
        const verdict = verdictFor(before, now)
        // The store refused where the rule allows: only a clock step between the two reads.
        return verdict.allowed ? { allowed: false, locked: false, retryAfterSeconds: 1 } : verdict
      }
      return { allowed: true, reservation: { release: () => store.release(key, before) } }
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
    async reserve(key, now, ttlMs) {
      // No await between reading and counting: the event loop makes this one atomic step.
      const entry = entries.get(key)
      const before =
        entry && entry.expiresAt > now ? { failures: entry.failures, lastFailureAt: entry.lastFailureAt } : null
      if (!verdictFor(before, now).allowed) return { reserved: false, before }
      const next = { failures: (before?.failures ?? 0) + 1, lastFailureAt: now, expiresAt: now + ttlMs }
      entries.delete(key)
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!)
      entries.set(key, next)
      return { reserved: true, before }
    },
    async release(key, previous) {
      const entry = entries.get(key)
      if (!entry) return
      const untouched = entry.failures === (previous?.failures ?? 0) + 1
      if (entry.failures <= 1 || (untouched && previous === null)) entries.delete(key)
      else if (untouched) entries.set(key, { ...entry, ...previous! })
      else entry.failures -= 1
    },
    async clear(key) {
      entries.delete(key)
    },
  }
}

// The rule of verdictFor, run inside Redis so that reading the state and counting the attempt are
// one step for every instance sharing it. ARGV: now, ttl, free failures, max delay, lock after.
const RESERVE_SCRIPT = `
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '-1')
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local count = 0
if failures >= 0 and now - last < ttl then
  count = failures
  if failures >= tonumber(ARGV[5]) then return {0, failures, last} end
  if failures >= tonumber(ARGV[3]) then
    local delay = math.min(tonumber(ARGV[4]), 1000 * 2 ^ (failures - tonumber(ARGV[3])))
    if last + delay > now then return {0, failures, last} end
  end
end
redis.call('HSET', KEYS[1], 'failures', count + 1, 'last', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
if failures < 0 then return {1, -1, 0} end
return {1, failures, last}
`

// Takes back one reserved attempt: the state as it was when nothing else was counted meanwhile,
// one failure fewer otherwise; the key disappears when nothing is left. ARGV: failures and last
// before the reservation (-1 when there was no state).
const RELEASE_SCRIPT = `
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
local before = tonumber(ARGV[1])
if failures <= 1 or (failures == before + 1 and before <= 0) then
  redis.call('DEL', KEYS[1])
elseif failures == before + 1 then
  redis.call('HSET', KEYS[1], 'failures', before, 'last', ARGV[2])
else
  redis.call('HINCRBY', KEYS[1], 'failures', -1)
end
return 0
`

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
    async reserve(key, now, ttlMs) {
      const [reserved, failures, last] = (await orUnavailable(
        redis.eval(RESERVE_SCRIPT, 1, prefix + key, now, ttlMs, FREE_FAILURES, MAX_DELAY_MS, LOCK_AFTER),
      )) as [number, number, number]
      return { reserved: reserved === 1, before: failures < 0 ? null : { failures, lastFailureAt: last } }
    },
    async release(key, previous) {
      await orUnavailable(
        redis.eval(RELEASE_SCRIPT, 1, prefix + key, previous?.failures ?? -1, previous?.lastFailureAt ?? 0),
      )
    },
    async clear(key) {
      await orUnavailable(redis.del(prefix + key))
    },
  }
}
