import type { Deps } from '../deps.js'
import { rateLimited } from '../http/rate-limit.js'
import type { SessionEndReason } from './end-user-access.js'
import { findSessionEndsOfUser } from './session.store.js'

/**
 * How many of a user's sessions may end one by one within one revocation-feed lifetime before the
 * user may open no new session until the oldest of them leaves that window. Each such ending is a
 * feed entry (a `sid`) that every resource service downloads until the session's access tokens
 * have expired, and one user can otherwise open and end sessions as fast as the token endpoint
 * answers (a code-replay loop on a hosted sign-in adds ~125 entries a second).
 */
export const SESSION_END_BUDGET = 20

/**
 * The endings that are per session, which the user (or whoever holds the user's sign-in) can repeat
 * at will. Not counted: endings of all the user's sessions at once (logout-all, password reset,
 * disabling: they come with a user cut-off that makes older entries redundant, see
 * tokens/revocation-feed.ts), an operator's (`admin_revoked`) and a deleted client's.
 */
const countedReasons: readonly SessionEndReason[] = [
  'code_replay',
  'refresh_reuse',
  'logout',
  'user_revoked',
  'revoked_by_client',
  'rp_logout',
]

/**
 * Refuses a new session (429 rate_limited, Retry-After) to a user who has had SESSION_END_BUDGET
 * sessions ended one by one within the window an entry stays in the feed. No token stays valid
 * because of it: the sessions already ended stay in the feed, and nothing else is revoked; the
 * user's other sessions go on. Off with LATCHKEY_RATE_LIMITS=false.
 */
export async function assertUserMayOpenSession(
  deps: Pick<Deps, 'db' | 'config'>,
  userId: string,
  now: number,
): Promise<void> {
  if (!deps.config.rateLimits) return
  const window = deps.config.accessTokenTtlMs + deps.config.clockSkewMs
  const ends = await findSessionEndsOfUser(deps.db, userId, countedReasons, now - window, SESSION_END_BUDGET)
  if (ends.length < SESSION_END_BUDGET) return
  // The budget frees up once the oldest of the newest SESSION_END_BUDGET endings leaves the window.
  throw rateLimited(ends[SESSION_END_BUDGET - 1]! + window - now)
}
