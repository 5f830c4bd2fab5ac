import type { Selectable } from 'kysely'

type BackchannelLogoutStatus = 'pending' | 'delivered' | 'failed' | 'discarded'

/**
 * One logout token to post to a client (OIDC Back-Channel Logout 1.0): the outbox pattern, as the
 * mail outbox. It names the session that ended; the token is signed when it is sent.
 */
export interface BackchannelLogoutsTable {
  /** Also the logout token's `jti`: every attempt carries the same one, so the client can drop repeats. */
  id: string
  client_id: string
  /** The token's `sub`. */
  user_id: string
  /** The token's `sid`: the session named in the ID tokens the client received. */
  session_id: string
  status: BackchannelLogoutStatus
  created_at: number
  next_attempt_at: number
  /** Attempts started, counted when a worker claims the row. */
  attempts: number
  /** A worker holds the row until then; after it, another may take it over (the holder crashed). */
  claimed_until: number | null
  finished_at: number | null
  /** Why the last attempt failed: an HTTP status or error name, never a response body. */
  last_error: string | null
}

export type BackchannelLogoutRow = Selectable<BackchannelLogoutsTable>
