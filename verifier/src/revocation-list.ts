import { fetchJson } from './http-fetch.js'

export interface RevocationListOptions {
  url: string
  clock: () => number
  timeoutMs: number
  onError: (error: unknown) => void
}

/** One answer of GET /oauth/revocations. Times are epoch seconds. */
interface FeedBody {
  cursor: string
  full: boolean
  sessions: Array<{ sid: string; until: number }>
  tokens: Array<{ jti: string; until: number }>
  users: Array<{ sub: string; issued_before: number; until: number }>
}

interface UserCutOff {
  issuedBefore: number
  until: number
}

/** The claims the revocation check reads. */
export interface RevocableClaims {
  sub?: string | undefined
  jti?: string | undefined
  sid?: unknown
  iat?: number | undefined
}

/**
 * Latchkey's revocation feed, held in memory and polled with the last ETag and cursor, so an
 * unchanged feed costs one 304. Entries are dropped locally once their `until` has passed.
 */
export function createRevocationList(options: RevocationListOptions) {
  const sessions = new Map<string, number>()
  const tokens = new Map<string, number>()
  const users = new Map<string, UserCutOff>()
  let etag: string | null = null
  let cursor: string | null = null
  let lastSuccessAt: number | null = null
  let chain: Promise<void> = Promise.resolve()

  async function poll(): Promise<void> {
    const url = cursor === null ? options.url : `${options.url}?since=${encodeURIComponent(cursor)}`
    // A busy deployment can have tens of thousands of entries within one token lifetime.
    const fetched = await fetchJson(url, { timeoutMs: options.timeoutMs, maxBytes: 32 * 1024 * 1024, etag })
    if (fetched.status === 304 && lastSuccessAt !== null) {
      lastSuccessAt = options.clock()
      prune()
      return
    }
    if (fetched.status !== 200) throw new Error(`${options.url} answered HTTP ${fetched.status}`)
    const body = parseFeed(fetched.body)
    // A full answer is merged like any other: revocations are only ever added, and each entry
    // leaves by its own `until`, so an older snapshot from another instance cannot drop one.
    for (const s of body.sessions) sessions.set(s.sid, Math.max(s.until, sessions.get(s.sid) ?? 0))
    for (const t of body.tokens) tokens.set(t.jti, Math.max(t.until, tokens.get(t.jti) ?? 0))
    for (const u of body.users) {
      const known = users.get(u.sub)
      // Cut-offs only move forward; a repeated or older entry never weakens a newer one.
      users.set(
        u.sub,
        known
          ? { issuedBefore: Math.max(known.issuedBefore, u.issued_before), until: Math.max(known.until, u.until) }
          : { issuedBefore: u.issued_before, until: u.until },
      )
    }
    etag = fetched.etag
    cursor = body.cursor
    lastSuccessAt = options.clock()
    prune()
  }

  function prune(): void {
    const now = options.clock() / 1000
    for (const [id, until] of sessions) if (until < now) sessions.delete(id)
    for (const [id, until] of tokens) if (until < now) tokens.delete(id)
    for (const [id, cutOff] of users) if (cutOff.until < now) users.delete(id)
  }

  /**
   * Polls now, after any poll already under way (which may have been sent before the change the
   * caller wants to see). Rejects when the feed cannot be read; the list keeps what it had.
   */
  let pending = 0
  function refresh(): Promise<void> {
    pending++
    const next = chain.then(poll, poll).finally(() => pending--)
    chain = next.catch((error: unknown) => options.onError(error))
    return next
  }

  /** The timer's poll: skipped while one is under way, so a slow Latchkey never piles polls up. */
  function refreshIfIdle(): void {
    if (pending === 0) refresh().catch(() => undefined)
  }

  function isRevoked(claims: RevocableClaims): boolean {
    if (typeof claims.sid === 'string' && sessions.has(claims.sid)) return true
    if (claims.jti !== undefined && tokens.has(claims.jti)) return true
    if (claims.sub !== undefined && claims.iat !== undefined) {
      const cutOff = users.get(claims.sub)
      if (cutOff && claims.iat < cutOff.issuedBefore) return true
    }
    return false
  }

  return {
    refresh,
    refreshIfIdle,
    isRevoked,
    /** Epoch ms of the last successful poll, null before the first. */
    lastSuccessAt: () => lastSuccessAt,
    size: () => ({ sessions: sessions.size, tokens: tokens.size, users: users.size }),
  }
}

const isString = (v: unknown): v is string => typeof v === 'string'
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/** Checks the shape before anything is merged: a bad answer changes nothing. */
function parseFeed(body: unknown): FeedBody {
  const b = body as Partial<FeedBody> | null
  const ok =
    typeof b === 'object' &&
    b !== null &&
    isString(b.cursor) &&
    typeof b.full === 'boolean' &&
    Array.isArray(b.sessions) &&
    b.sessions.every((s) => isString(s?.sid) && isTime(s.until)) &&
    Array.isArray(b.tokens) &&
    b.tokens.every((t) => isString(t?.jti) && isTime(t.until)) &&
    Array.isArray(b.users) &&
    b.users.every((u) => isString(u?.sub) && isTime(u.issued_before) && isTime(u.until))
  if (!ok) throw new Error('the revocation feed answered an unexpected shape')
  return b as FeedBody
}
