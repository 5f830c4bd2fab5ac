import { Redis } from 'ioredis'

/**
 * The shared store for rate limits and login back-off. Commands fail fast while Redis is
 * unreachable (no offline queue, one retry) so a Redis outage surfaces as an error instead of
 * requests hanging until a timeout.
 */
export function createRedis(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 2_000, lazyConnect: false })
  // Connection errors are retried by ioredis itself; commands report their own failures.
  redis.on('error', () => {})
  return redis
}
