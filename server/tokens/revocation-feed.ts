import { createHash } from 'node:crypto'
import type { Deps } from '../deps.js'
import { findSessionsRevokedAfter } from '../sessions/session.store.js'
import { findUserCutOffsAfter } from '../users/user.store.js'
import {
  findAccessTokensRevokedAfter,
  findRevokedAccessTokensExpiringAfter,
  type RevokedAccessToken,
} from '../sessions/revoked-access-token.store.js'
import { findClientCutOffsAfter } from '../clients/client.store.js'
import { CLIENT_CACHE_TTL_MS, tokensValidFrom } from '../clients/client-lookup.js'
import {
  findLifetimesInReach,
  latestExpiryOfTokensIssuedBy,
  longestLifetimeInReach,
  type UsedLifetime,
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

/**
 * Between refreshes only rows stamped since the previous read (less config.clockSkewMs) are read
 * and merged into the rows kept from it; at least this often everything is read again, so a row
 * the skew did not cover (a commit later than that, a purge) is not missed for longer.
 */
export const REVOCATION_FEED_FULL_READ_MS = 60_000

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

/** The rows a snapshot is built from, each still in reach at the snapshot's read time. */
interface FeedRows {
  sessions: Array<{ id: string; userId: string; revokedAt: number }>
  tokens: RevokedAccessToken[]
  userCutOffs: Array<{ id: string; tokensValidAfter: number }>
  clientCutOffs: Array<{ clientId: string; cutOffAt: number }>
}

/** How far back each kind of row still matters at `readAt`, under the lifetimes then in reach. */
interface Reach {
  readAt: number
  ttl: number
  skew: number
  lifetimes: UsedLifetime[]
  /** Rows stamped at or before these (epoch ms) are out of the feed. */
  sessionsAfter: number
  tokensExpiringAfter: number
  usersAfter: number
  clientsAfter: number
}

function reachAt(config: Deps['config'], readAt: number, lifetimes: UsedLifetime[]): Reach {
  const skew = config.clockSkewMs
  const ttl = config.accessTokenTtlMs
  const lifetime = longestLifetimeInReach(ttl, lifetimes) + skew
  // A deleted client may still be in an instance's lookup cache for CLIENT_CACHE_TTL_MS and mint
  // tokens meanwhile, so its cut-off covers that window too.
  const clientLifetime = lifetime + CLIENT_CACHE_TTL_MS
  return {
    readAt,
    ttl,
    skew,
    lifetimes,
    sessionsAfter: readAt - lifetime,
    tokensExpiringAfter: readAt - skew,
    usersAfter: readAt - lifetime,
    clientsAfter: readAt - clientLifetime,
  }
}

/** Everything that can still affect an unexpired access token, read from the database. */
async function readRowsInReach(db: Deps['db'], reach: Reach): Promise<FeedRows> {
  const [sessions, tokens, userCutOffs, clientCutOffs] = await Promise.all([
    findSessionsRevokedAfter(db, reach.sessionsAfter),
    findRevokedAccessTokensExpiringAfter(db, reach.tokensExpiringAfter),
    findUserCutOffsAfter(db, reach.usersAfter),
    findClientCutOffsAfter(db, reach.clientsAfter),
  ])
  return { sessions, tokens, userCutOffs, clientCutOffs }
}

/** A row in reach at the previous read, with its entry and the entry's JSON, made once. */
interface Kept<E> {
  id: string
  /** The row's own bound (revoked, expiring, cut off at): compared with the Reach's. */
  at: number
  entry: E
  json: string
}
interface KeptSession extends Kept<SessionEntry> {
  userId: string
}

/**
 * The rows in reach at the previous read, each kind sorted by id. Entries depend on the lifetimes
 * in reach besides the rows, so a change of `key` means starting from nothing again.
 */
interface FeedState {
  key: string
  readAt: number
  fullReadAt: number
  sessions: KeptSession[]
  tokens: Array<Kept<TokenEntry>>
  userCutOffs: Array<Kept<UserEntry>>
  clientCutOffs: Array<Kept<UserEntry>>
}

function reachKey(reach: Reach): string {
  const lifetimes = [...reach.lifetimes].sort((a, b) => a.ttlMs - b.ttlMs || a.lastUsedAt - b.lastUsedAt)
  return JSON.stringify([reach.ttl, reach.skew, lifetimes])
}

const userJson = (e: UserEntry) =>
  // iat has whole seconds, so the cut-off is given in whole seconds too (see toBody).
  JSON.stringify({ sub: e.sub, issued_before: Math.floor(e.cutOff / 1000), until: seconds(e.until) })

/**
 * Merges `changed` (any order; a later row of an id wins) into `sorted` (by id, ids unique): a
 * changed row replaces the kept one of its id. Rows `stillIn` refuses are dropped. Linear in the
 * kept rows, so a refresh costs no sort of the whole feed.
 */
function mergeById<T extends { id: string }>(sorted: T[], changed: T[], stillIn: (row: T) => boolean): T[] {
  const delta = [...new Map(changed.map((r) => [r.id, r])).values()].sort((a, b) =>
    a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
  )
  const merged: T[] = []
  let i = 0
  let j = 0
  while (i < sorted.length || j < delta.length) {
    const kept = sorted[i]
    const next = delta[j]
    let row: T
    if (next === undefined || (kept !== undefined && kept.id < next.id)) {
      row = kept!
      i++
    } else {
      if (kept !== undefined && kept.id === next.id) i++
      row = next
      j++
    }
    if (stillIn(row)) merged.push(row)
  }
  return merged
}

/** The state after `changed` rows are merged into `state` (or into nothing) at `reach.readAt`. */
function mergeRows(state: FeedState | null, changed: FeedRows, reach: Reach, key: string): FeedState {
  const { readAt, ttl, skew, lifetimes } = reach
  // Lifetimes used before a lowered LATCHKEY_ACCESS_TOKEN_TTL still bound their tokens' expiry.
  const until = (at: number) => latestExpiryOfTokensIssuedBy(at, ttl, lifetimes) + skew
  const sessions = changed.sessions.map((s): KeptSession => {
    const entry = { sid: s.id, changedAt: s.revokedAt, until: until(s.revokedAt) }
    const json = JSON.stringify({ sid: entry.sid, until: seconds(entry.until) })
    return { id: s.id, at: s.revokedAt, userId: s.userId, entry, json }
  })
  const tokens = changed.tokens.map((r): Kept<TokenEntry> => {
    const entry = { jti: r.jti, changedAt: r.revokedAt, until: r.expiresAt + skew }
    return { id: r.jti, at: r.expiresAt, entry, json: JSON.stringify({ jti: entry.jti, until: seconds(entry.until) }) }
  })
  const userCutOffs = changed.userCutOffs.map((u): Kept<UserEntry> => {
    const entry = {
      sub: u.id,
      cutOff: u.tokensValidAfter,
      changedAt: u.tokensValidAfter,
      until: until(u.tokensValidAfter),
    }
    return { id: u.id, at: u.tokensValidAfter, entry, json: userJson(entry) }
  })
  // A client's own tokens (client_credentials) have the client as their subject, so a deleted
  // client is a cut-off by subject, which every verifier already applies.
  const clientCutOffs = changed.clientCutOffs.map((c): Kept<UserEntry> => {
    const entry = {
      sub: c.clientId,
      cutOff: tokensValidFrom(c.cutOffAt),
      changedAt: c.cutOffAt,
      until: until(c.cutOffAt + CLIENT_CACHE_TTL_MS),
    }
    return { id: c.clientId, at: c.cutOffAt, entry, json: userJson(entry) }
  })
  // The same bounds a full read queries with.
  return {
    key,
    readAt,
    fullReadAt: state?.fullReadAt ?? readAt,
    sessions: mergeById(state?.sessions ?? [], sessions, (s) => s.at > reach.sessionsAfter),
    tokens: mergeById(state?.tokens ?? [], tokens, (r) => r.at > reach.tokensExpiringAfter),
    userCutOffs: mergeById(state?.userCutOffs ?? [], userCutOffs, (u) => u.at > reach.usersAfter),
    clientCutOffs: mergeById(state?.clientCutOffs ?? [], clientCutOffs, (c) => c.at > reach.clientsAfter),
  }
}

/** The snapshot of the rows in reach: entries sorted by id, the body and its ETag. */
function buildSnapshot(state: FeedState, reach: Reach): RevocationSnapshot {
  const sessions = withoutSessionsCutOff(state.sessions, state.userCutOffs, reach.skew)
  // User and client cut-offs in one list by subject (a user's first, should the ids ever meet).
  const users: Array<Kept<UserEntry>> = []
  let i = 0
  let j = 0
  while (i < state.userCutOffs.length || j < state.clientCutOffs.length) {
    const u = state.userCutOffs[i]
    const c = state.clientCutOffs[j]
    if (c === undefined || (u !== undefined && u.id <= c.id)) users.push(state.userCutOffs[i++]!)
    else users.push(state.clientCutOffs[j++]!)
  }
  const list = (kept: Array<Kept<unknown>>) => `[${kept.map((k) => k.json).join(',')}]`
  const [s, t, u] = [list(sessions), list(state.tokens), list(users)]
  // The ETag covers the entries, not the cursor: instances reading the same database agree on it,
  // so a poller spread over several of them still gets 304s. Both strings are what JSON.stringify
  // gives for the body toBody makes.
  const etag = `"${createHash('sha256').update(`[${s},${t},${u}]`).digest('base64url').slice(0, 27)}"`
  const json = `{"cursor":${JSON.stringify(String(reach.readAt))},"full":true,"sessions":${s},"tokens":${t},"users":${u}}`
  return {
    readAt: reach.readAt,
    etag,
    json,
    oldest: reach.sessionsAfter,
    sessions: sessions.map((k) => k.entry),
    tokens: state.tokens.map((k) => k.entry),
    users: users.map((k) => k.entry),
  }
}

/**
 * Reads everything that can still affect an unexpired access token, all of it at once. The feed
 * reads this way now and then (createRevocationFeed); between times it reads only what changed.
 */
export async function readRevocationSnapshot(deps: Pick<Deps, 'db' | 'clock' | 'config'>): Promise<RevocationSnapshot> {
  const readAt = deps.clock.now()
  const reach = reachAt(deps.config, readAt, await findLifetimesInReach(deps.db, readAt, deps.config.clockSkewMs))
  return buildSnapshot(mergeRows(null, await readRowsInReach(deps.db, reach), reach, reachKey(reach)), reach)
}

/**
 * Drops the sessions a later cut-off of their user already covers. A user entry voids the user's
 * tokens issued before its second (`iat < issued_before`); a session's tokens were all issued
 * before it was revoked, give or take config.clockSkewMs (a refresh that passed its check just
 * before the revocation and signed just after, or an instance whose clock runs ahead). So a session
 * revoked more than the skew before the cut-off's second needs no entry of its own, and its user
 * entry outlives it (`until` grows with the time it is reached from). Sessions revoked with the cut-off
 * itself, or just before it, keep their entries: they catch tokens from the cut-off's own second.
 * Applied to all the sessions kept at every read, so a new cut-off drops the entries it covers.
 */
function withoutSessionsCutOff(
  sessions: KeptSession[],
  userCutOffs: Array<Kept<UserEntry>>,
  skew: number,
): KeptSession[] {
  if (userCutOffs.length === 0) return sessions
  const cutOffSecond = new Map(userCutOffs.map((u) => [u.id, Math.floor(u.entry.cutOff / 1000) * 1000]))
  return sessions.filter((s) => {
    const cutOff = cutOffSecond.get(s.userId)
    return cutOff === undefined || s.entry.changedAt + skew >= cutOff
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
 * Rows stamped after `since` (epoch ms) that are still in reach: new revocations, and cut-offs
 * moved later (a user's or a client's row holds its latest cut-off only).
 */
async function readRowsChangedSince(db: Deps['db'], reach: Reach, since: number): Promise<FeedRows> {
  const [sessions, tokens, userCutOffs, clientCutOffs] = await Promise.all([
    findSessionsRevokedAfter(db, Math.max(since, reach.sessionsAfter)),
    findAccessTokensRevokedAfter(db, since, reach.tokensExpiringAfter),
    findUserCutOffsAfter(db, Math.max(since, reach.usersAfter)),
    findClientCutOffsAfter(db, Math.max(since, reach.clientsAfter)),
  ])
  return { sessions, tokens, userCutOffs, clientCutOffs }
}

/**
 * The feed as served: one snapshot per instance, read again when it is older than
 * REVOCATION_FEED_REFRESH_MS by the service's clock, so a revocation written on any instance is
 * served within that bound plus one query, and a conditional GET answers from memory.
 */
export function createRevocationFeed(deps: Pick<Deps, 'db' | 'clock' | 'config' | 'metrics'>) {
  let current: RevocationSnapshot | null = null
  let reading: Promise<RevocationSnapshot> | null = null
  let kept: FeedState | null = null

  async function read(): Promise<RevocationSnapshot> {
    const readAt = deps.clock.now()
    const lifetimes = await findLifetimesInReach(deps.db, readAt, deps.config.clockSkewMs)
    const reach = reachAt(deps.config, readAt, lifetimes)
    const key = reachKey(reach)
    const previous = kept
    // Everything again: at first, every REVOCATION_FEED_FULL_READ_MS, when the lifetimes in reach
    // (so every entry's `until` and how far back rows matter) changed, when the clock went back,
    // and when the previous read is out of reach anyway.
    if (
      previous === null ||
      previous.key !== key ||
      readAt < previous.readAt ||
      readAt - previous.fullReadAt >= REVOCATION_FEED_FULL_READ_MS ||
      previous.readAt <= reach.sessionsAfter
    ) {
      kept = mergeRows(null, await readRowsInReach(deps.db, reach), reach, key)
    } else {
      // Entries stamped up to the skew before the previous read may have committed after it.
      const changed = await readRowsChangedSince(deps.db, reach, previous.readAt - reach.skew)
      kept = mergeRows(previous, changed, reach, key)
    }
    return buildSnapshot(kept, reach)
  }

  async function snapshot(): Promise<RevocationSnapshot> {
    const now = deps.clock.now()
    if (current && now - current.readAt < REVOCATION_FEED_REFRESH_MS && now >= current.readAt) return current
    // One read at a time: requests arriving meanwhile wait for it rather than start their own.
    reading ??= read().then(
      (snap) => {
        reading = null
        current = snap
        observeSnapshot(deps.metrics, snap)
        return snap
      },
      (error: unknown) => {
        reading = null
        // The next read starts afresh: a half-merged set of rows is never built on.
        kept = null
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
