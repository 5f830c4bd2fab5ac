import { createHash } from 'node:crypto'
import type { Deps } from '../deps.js'
import { findSessionsRevokedAfter } from '../sessions/session.store.js'
import { findUserCutOffsAfter } from '../users/user.store.js'
import { findRevokedAccessTokensExpiringAfter } from '../sessions/revoked-access-token.store.js'
import { findClientCutOffsAfter } from '../clients/client.store.js'
import { CLIENT_CACHE_TTL_MS, tokensValidFrom } from '../clients/client-lookup.js'
import {
  findLifetimesInReach,
  latestExpiryOfTokensIssuedBy,
  longestLifetimeInReach,
} from './access-token-lifetime.store.js'

/*
 * config.clockSkewMs (60 s) is how long after a revocation its entry stays in the feed beyond the
 * access-token lifetime, and how far a "since" read reaches back before its cursor. It covers
 * clock differences between Latchkey instances, transactions that commit some time after they
 * stamped their revocation time, and the leeway a verifier allows on `exp` (the verifier package
 * caps its leeway at 60 s).
 */

/** The feed is read from the database at most this often per instance; a 304 costs no query. */
export const REVOCATION_FEED_REFRESH_MS = 1_000

/** When an entry was written (for "since" reads) and until when it can matter (epoch ms). */
interface Entry {
  changedAt: number
  until: number
}
interface SessionEntry extends Entry {
  sid: string
}
interface TokenEntry extends Entry {
  jti: string
}
interface UserEntry extends Entry {
  sub: string
  /** Epoch ms: tokens of this user issued before it are void. */
  cutOff: number
}

export interface RevocationSnapshot {
  /** Epoch ms the database was read at; the cursor handed to pollers. */
  readAt: number
  etag: string
  /** Epoch ms: entries changed before it have dropped out, so an older cursor gets the whole feed. */
  oldest: number
  /** The full feed, serialised once per read. */
  json: string
  sessions: SessionEntry[]
  tokens: TokenEntry[]
  users: UserEntry[]
}

export interface RevocationFeedBody {
  cursor: string
  full: boolean
  sessions: Array<{ sid: string; until: number }>
  tokens: Array<{ jti: string; until: number }>
  users: Array<{ sub: string; issued_before: number; until: number }>
}

const seconds = (ms: number) => Math.ceil(ms / 1000)

function toBody(snapshot: RevocationSnapshot, changedFrom: number | null): RevocationFeedBody {
  const keep = (e: Entry) => changedFrom === null || e.changedAt >= changedFrom
  return {
    cursor: String(snapshot.readAt),
    full: changedFrom === null,
    sessions: snapshot.sessions.filter(keep).map((e) => ({ sid: e.sid, until: seconds(e.until) })),
    tokens: snapshot.tokens.filter(keep).map((e) => ({ jti: e.jti, until: seconds(e.until) })),
    // iat has whole seconds, so the cut-off is given in whole seconds too, rounded down as Latchkey's
    // own check does: a token from the cut-off's own second is caught by its revoked session.
    users: snapshot.users
      .filter(keep)
      .map((e) => ({ sub: e.sub, issued_before: Math.floor(e.cutOff / 1000), until: seconds(e.until) })),
  }
}

/** Reads everything that can still affect an unexpired access token. */
async function readRevocationSnapshot(deps: Pick<Deps, 'db' | 'clock' | 'config'>): Promise<RevocationSnapshot> {
  const readAt = deps.clock.now()
  const skew = deps.config.clockSkewMs
  const ttl = deps.config.accessTokenTtlMs
  // Lifetimes used before a lowered LATCHKEY_ACCESS_TOKEN_TTL still bound their tokens' expiry.
  const lifetimes = await findLifetimesInReach(deps.db, readAt, skew)
  const lifetime = longestLifetimeInReach(ttl, lifetimes) + skew
  const reach = (at: number) => latestExpiryOfTokensIssuedBy(at, ttl, lifetimes) + skew
  // A deleted client may still be in an instance's lookup cache for CLIENT_CACHE_TTL_MS and mint
  // tokens meanwhile, so its cut-off covers that window too.
  const clientLifetime = lifetime + CLIENT_CACHE_TTL_MS
  const [sessions, tokens, userCutOffs, clientCutOffs] = await Promise.all([
    findSessionsRevokedAfter(deps.db, readAt - lifetime),
    findRevokedAccessTokensExpiringAfter(deps.db, readAt - skew),
    findUserCutOffsAfter(deps.db, readAt - lifetime),
    findClientCutOffsAfter(deps.db, readAt - clientLifetime),
  ])
  // A client's own tokens (client_credentials) have the client as their subject, so a deleted
  // client is a cut-off by subject, which every verifier already applies.
  const users = [
    ...userCutOffs.map((u) => ({
      sub: u.id,
      cutOff: u.tokensValidAfter,
      changedAt: u.tokensValidAfter,
      until: reach(u.tokensValidAfter),
    })),
    // Rounded up to the next whole second (toBody rounds down), as verify-access-token.ts does:
    // a token minted with a stale cache just inside the window is listed too.
    ...clientCutOffs.map((c) => ({
      sub: c.clientId,
      cutOff: tokensValidFrom(c.cutOffAt),
      changedAt: c.cutOffAt,
      until: reach(c.cutOffAt + CLIENT_CACHE_TTL_MS),
    })),
  ]
  const byId =
    <T>(key: (e: T) => string) =>
    (a: T, b: T) =>
      key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0
  const snapshot = {
    readAt,
    sessions: withoutSessionsCutOff(sessions, userCutOffs, skew)
      .map((s) => ({ sid: s.id, changedAt: s.revokedAt, until: reach(s.revokedAt) }))
      .sort(byId((e) => e.sid)),
    tokens: tokens
      .map((r) => ({ jti: r.jti, changedAt: r.revokedAt, until: r.expiresAt + skew }))
      .sort(byId((e) => e.jti)),
    users: users.sort(byId((e) => e.sub)),
  }
  const full = toBody({ ...snapshot, etag: '', json: '', oldest: 0 }, null)
  // The ETag covers the entries, not the cursor: instances reading the same database agree on it,
  // so a poller spread over several of them still gets 304s.
  const etag = `"${createHash('sha256')
    .update(JSON.stringify([full.sessions, full.tokens, full.users]))
    .digest('base64url')
    .slice(0, 27)}"`
  return { ...snapshot, etag, json: JSON.stringify(full), oldest: readAt - lifetime }
}

/**
 * Drops the sessions a later cut-off of their user already covers. A user entry voids the user's
 * tokens issued before its second (`iat < issued_before`); a session's tokens were all issued
 * before it was revoked, give or take config.clockSkewMs (a refresh that passed its check just
 * before the revocation and signed just after, or an instance whose clock runs ahead). So a session
 * revoked more than the skew before the cut-off's second needs no entry of its own, and its user
 * entry outlives it (`until` grows with the time it is reached from). Sessions revoked with the cut-off
 * itself, or just before it, keep their entries: they catch tokens from the cut-off's own second.
 */
function withoutSessionsCutOff<S extends { userId: string; revokedAt: number }>(
  sessions: S[],
  userCutOffs: Array<{ id: string; tokensValidAfter: number }>,
  skew: number,
): S[] {
  if (userCutOffs.length === 0) return sessions
  const cutOffSecond = new Map(userCutOffs.map((u) => [u.id, Math.floor(u.tokensValidAfter / 1000) * 1000]))
  return sessions.filter((s) => {
    const cutOff = cutOffSecond.get(s.userId)
    return cutOff === undefined || s.revokedAt + skew >= cutOff
  })
}

function observeSnapshot(metrics: Deps['metrics'], snapshot: RevocationSnapshot): void {
  metrics.revocationFeedEntries.set({ kind: 'sessions' }, snapshot.sessions.length)
  metrics.revocationFeedEntries.set({ kind: 'tokens' }, snapshot.tokens.length)
  metrics.revocationFeedEntries.set({ kind: 'users' }, snapshot.users.length)
  metrics.revocationFeedBytes.set(Buffer.byteLength(snapshot.json))
  metrics.revocationFeedReadAt.set(snapshot.readAt / 1000)
}

/**
 * The feed as served: one snapshot per instance, read again when it is older than
 * REVOCATION_FEED_REFRESH_MS by the service's clock, so a revocation written on any instance is
 * served within that bound plus one query, and a conditional GET answers from memory.
 */
export function createRevocationFeed(deps: Pick<Deps, 'db' | 'clock' | 'config' | 'metrics'>) {
  let current: RevocationSnapshot | null = null
  let reading: Promise<RevocationSnapshot> | null = null

  async function snapshot(): Promise<RevocationSnapshot> {
    const now = deps.clock.now()
    if (current && now - current.readAt < REVOCATION_FEED_REFRESH_MS && now >= current.readAt) return current
    // One read at a time: requests arriving meanwhile wait for it rather than start their own.
    reading ??= readRevocationSnapshot(deps).then(
      (read) => {
        reading = null
        current = read
        observeSnapshot(deps.metrics, read)
        return read
      },
      (error: unknown) => {
        reading = null
        deps.metrics.revocationFeedReadFailures.inc()
        throw error
      },
    )
    return reading
  }

  /**
   * The entries changed since a cursor, or all of them. A cursor is the read time of an earlier
   * snapshot; entries stamped up to config.clockSkewMs before it are repeated, because a revocation
   * can commit after a read that began later than its timestamp (or on an instance whose clock is
   * behind). Repeats are harmless: the feed is a set. A cursor too old, or from the future, gets the
   * whole feed.
   */
  function changesSince(snap: RevocationSnapshot, cursor: number): RevocationFeedBody | null {
    const from = cursor - deps.config.clockSkewMs
    if (cursor > snap.readAt || from <= snap.oldest) return null
    return toBody(snap, from)
  }

  return { snapshot, changesSince }
}
