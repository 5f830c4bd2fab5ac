import type { Db } from '../db/database.js'

/**
 * How long after its last stamp an instance may still have issued tokens with a lifetime: it
 * stamps at startup, on every maintenance run (each minute) and at shutdown, so two runs' worth
 * covers an instance that died between runs.
 */
const LIFETIME_STAMP_MARGIN_MS = 120_000

export interface UsedLifetime {
  ttlMs: number
  lastUsedAt: number
}

/** Records that this instance issues access tokens living `ttlMs` as of `now`. */
export async function stampAccessTokenLifetime(db: Db, ttlMs: number, now: number): Promise<void> {
  await db
    .insertInto('access_token_lifetimes')
    .values({ ttl_ms: ttlMs, last_used_at: now })
    .onConflict((oc) =>
      oc.column('ttl_ms').doUpdateSet({ last_used_at: now }).where('access_token_lifetimes.last_used_at', '<', now),
    )
    .execute()
}

/** Lifetimes whose tokens may still be unexpired at `now` (beyond the skew allowance). */
export async function findLifetimesInReach(db: Db, now: number, skewMs: number): Promise<UsedLifetime[]> {
  const rows = await db.selectFrom('access_token_lifetimes').selectAll().execute()
  return rows
    .map((r) => ({ ttlMs: Number(r.ttl_ms), lastUsedAt: Number(r.last_used_at) }))
    .filter((l) => l.lastUsedAt + LIFETIME_STAMP_MARGIN_MS + l.ttlMs + skewMs > now)
}

/**
 * Until when (epoch ms, before skew) a token issued at or before `at` can be unexpired: a lowered
 * LATCHKEY_ACCESS_TOKEN_TTL leaves the tokens issued under the old one living their full time.
 */
export function latestExpiryOfTokensIssuedBy(at: number, currentTtlMs: number, lifetimes: UsedLifetime[]): number {
  let latest = at + currentTtlMs
  for (const l of lifetimes) {
    latest = Math.max(latest, Math.min(at, l.lastUsedAt + LIFETIME_STAMP_MARGIN_MS) + l.ttlMs)
  }
  return latest
}

/** The longest lifetime that still matters: how far back revocations can still matter. */
export function longestLifetimeInReach(currentTtlMs: number, lifetimes: UsedLifetime[]): number {
  return Math.max(currentTtlMs, ...lifetimes.map((l) => l.ttlMs))
}
