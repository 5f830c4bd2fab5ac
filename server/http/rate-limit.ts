import rateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit'
import { createRequire } from 'node:module'
import { isIPv6 } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { ApiError } from '../errors.js'

/**
 * Per-IP limits on credential endpoints (ASVS 6.3.1), with @fastify/rate-limit. Routes opt in
 * with `config: { rateLimit: … }`. The plugin's default key is `request.ip` (which believes
 * X-Forwarded-For only as far as LATCHKEY_TRUST_PROXY says), with IPv6 clients grouped by /64 so
 * rotating addresses within one allocation does not escape the limit. With Redis the budget is shared by every instance.
 */
export async function registerRateLimit(
  app: FastifyInstance,
  options: { redis: Redis | null; enabled: boolean; onStoreError: (error: unknown) => void },
): Promise<void> {
  const redis = options.redis
  await app.register(rateLimit, {
    global: false,
    // LATCHKEY_RATE_LIMITS=false: routes keep their settings but nothing is counted.
    allowList: () => !options.enabled,
    ...(redis ? { store: observedRedisStore(redis, options.onStoreError) } : {}),
    // Redis unreachable: let requests through rather than lock everyone out (fail-open, documented in
    // docs/accounts-and-sessions.md); every failed count is reported through onStoreError.
    skipOnError: true,
    errorResponseBuilder: (_request, context) => {
      const seconds = Math.max(1, Math.ceil(context.ttl / 1000))
      return new ApiError('rate_limited', 429, `too many requests, retry after ${seconds} seconds`, {
        'retry-after': String(seconds),
      })
    },
  })
}

interface Store extends FastifyRateLimitStore {
  read(key: string, callback: StoreCallback, timeWindow: number, max: number): void
}
type StoreCallback = (error: Error | null, result?: { current: number; ttl: number }) => void
type RedisStoreCtor = new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key: string) => Store

/**
 * The plugin's own Redis store (the one its `redis` option builds; the package has no export map,
 * so it is loaded by path), with every failed count passed to `onError` before the plugin, with
 * skipOnError, lets the request through as if nothing had been counted.
 */
function observedRedisStore(redis: Redis, onError: (error: unknown) => void) {
  const RedisStore = createRequire(import.meta.url)('@fastify/rate-limit/store/RedisStore') as RedisStoreCtor
  const observe = (store: Store): Store => {
    const watch =
      (callback: StoreCallback): StoreCallback =>
      (error, result) => {
        if (error) onError(error)
        callback(error, result)
      }
    return {
      incr: (key, callback, timeWindow, max) => store.incr(key, watch(callback), timeWindow, max),
      read: (key, callback, timeWindow, max) => store.read(key, watch(callback), timeWindow, max),
      child: (routeOptions) => observe(store.child(routeOptions) as Store),
    }
  }
  return class {
    constructor(settings: { continueExceeding?: boolean; exponentialBackoff?: boolean }) {
      const store = new RedisStore(
        settings.continueExceeding ?? false,
        settings.exponentialBackoff ?? false,
        redis,
        'latchkey:rl:',
      )
      return observe(store)
    }
  } as unknown as new (settings: object) => Store
}

/** How often at most a failing rate-limit store is logged (every failure is counted in metrics). */
const STORE_ERROR_LOG_INTERVAL_MS = 60_000

/**
 * Reports rate-limit store failures: each one increments `counter`, and a warning is logged at most
 * once a STORE_ERROR_LOG_INTERVAL_MS, with how many failed since the last warning, so an outage of
 * Redis is visible without a log line per request.
 */
export function storeErrorReporter(deps: {
  counter: { inc(): void }
  log: { warn(object: object, message: string): void }
  now: () => number
}): (error: unknown) => void {
  let lastLoggedAt = -Infinity
  let unlogged = 0
  return (error) => {
    deps.counter.inc()
    unlogged++
    const now = deps.now()
    if (now - lastLoggedAt < STORE_ERROR_LOG_INTERVAL_MS) return
    deps.log.warn(
      { event: 'rate_limit.store_error', err: error, failures: unlogged },
      'rate-limit store unreachable: requests are let through uncounted',
    )
    lastLoggedAt = now
    unlogged = 0
  }
}

export const loginRateLimit = { max: 10, timeWindow: 60_000 }
export const signupRateLimit = { max: 5, timeWindow: 60_000 }
export const refreshRateLimit = { max: 60, timeWindow: 60_000 }
export const passwordResetRateLimit = { max: 5, timeWindow: 15 * 60_000 }
/** RFC 8628 §5.1: user-code guesses per IP; docs/device-sign-in.md shows the arithmetic. */
export const deviceCodeRateLimit = { max: 5, timeWindow: 5 * 60_000 }
/**
 * Per IP on /oauth/device_authorization: anyone holding a public client_id can start device
 * sign-ins, and each is a row for ten minutes, so one address keeps at most ~100 of them alive.
 */
export const deviceAuthorizationRateLimit = { max: 10, timeWindow: 60_000 }

/**
 * Per authenticated client on /oauth/revoke: each revoked access token is an entry of the public
 * revocation feed until it expires, so one client's budget bounds what it can add to the feed
 * (300 a minute for a 10-minute lifetime: at most ~3,000 entries, ~200 KB) and to audit_events.
 */
export const revokeClientRateLimit = { max: 300, timeWindow: 60_000 }
/**
 * Per IP in front of /oauth/revoke, before any client authentication: at least a client's budget,
 * so one server revoking for its client is never held back by it.
 */
export const revokeIpRateLimit = { max: 600, timeWindow: 60_000 }

/**
 * /oauth/token counts per minute; the budgets themselves are settings (LATCHKEY_TOKEN_RATE_LIMIT,
 * LATCHKEY_TOKEN_FAILURE_RATE_LIMIT), because a busy confidential client may legitimately ask for
 * thousands of tokens a minute and only its operator knows how many.
 */
export const TOKEN_RATE_LIMIT_WINDOW_MS = 60_000

/**
 * Where a request comes from, for limits keyed by more than the IP: an IPv4 address, or an IPv6
 * /64 (as the plugin's default key groups them), so rotating addresses in one allocation is one.
 */
export function ipGroupOf(ip: string): string {
  if (!isIPv6(ip)) return ip
  const [head = '', tail] = ip.split('::') as [string, string | undefined]
  const headParts = head === '' ? [] : head.split(':')
  const tailParts = tail === undefined || tail === '' ? [] : tail.split(':')
  const zeros = tail === undefined ? [] : Array<string>(8 - headParts.length - tailParts.length).fill('0')
  const parts = [...headParts, ...zeros, ...tailParts]
  return `${parts
    .slice(0, 4)
    .map((p) => p.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}

/** The error a route throws when a limit it checks itself (after authentication) is exceeded. */
export function rateLimited(ttlMs: number): ApiError {
  const seconds = Math.max(1, Math.ceil(ttlMs / 1000))
  return new ApiError('rate_limited', 429, `too many requests, retry after ${seconds} seconds`, {
    'retry-after': String(seconds),
  })
}

/** Per IP: a password change costs two argon2 runs (finding M2). */
export const passwordChangeRateLimit = { max: 10, timeWindow: 60_000 }
/** Per user, after authentication: nobody changes their password more than a few times an hour. */
export const passwordChangeUserRateLimit = { max: 5, timeWindow: 15 * 60_000 }
