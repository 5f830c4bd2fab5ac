/** An access-token lifetime some instance issued with, and when it last said so (epoch ms). */
export interface AccessTokenLifetimesTable {
  ttl_ms: number
  last_used_at: number
}
