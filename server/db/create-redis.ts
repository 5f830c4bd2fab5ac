import type { Redis } from 'ioredis'

/**
 * The shared store for rate limits and login back-off. Imported only when REDIS_URL is set: the
 * client library alone costs ~25 MB of memory. Commands fail after one retry while Redis is
 * unreachable, and after 1 s when it accepts but does not answer, so an outage surfaces as an
 * error instead of requests hanging.
 */
export async function createRedis(url: string): Promise<Redis> {
  const { Redis: RedisClient } = await import('ioredis')
  const redis = new RedisClient(url, { maxRetriesPerRequest: 1, connectTimeout: 2_000, commandTimeout: 1_000 })
  // Connection errors are retried by ioredis itself; commands report their own failures.
  redis.on('error', () => {})
  return redis
}
