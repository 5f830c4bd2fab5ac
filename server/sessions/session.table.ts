import type { ColumnType, Insertable, Selectable } from 'kysely'

/** A login: the grant behind one refresh-token family. */
export interface SessionsTable {
  id: string
  user_id: string
  client_id: string
  /** Space-separated scopes granted to the family. */
  scope: string
  audience: string
  /** JSON array of authentication methods (RFC 8176), e.g. ["pwd"]. */
  amr: string
  auth_time: number
  created_at: number
  last_used_at: number
  /** Absolute end of the family (LATCHKEY_REFRESH_TOKEN_TTL after login). */
  expires_at: number
  revoked_at: number | null
  revoked_reason: string | null
  ip: string | null
  user_agent: string | null
  /** RFC 7638 thumbprint of the DPoP key a public client's refresh tokens are bound to (RFC 9449 §5). */
  dpop_jkt: string | null
  /** The hosted sign-in whose code opened this session (OIDC RP-initiated logout ends them together). */
  signin_session_id: string | null
  /**
   * HMAC key (base64url) tagging the family's refresh tokens, set with the first one: a pruned used
   * token still proves it is the family's. Null for sessions started before it existed.
   */
  refresh_key: ColumnType<string | null, string | null | undefined, string | null>
}

export interface RefreshTokensTable {
  id: string
  session_id: string
  /** sha256 of the opaque token, base64url. */
  token_hash: string
  created_at: number
  idle_expires_at: number
  used_at: number | null
  successor_id: string | null
  successor_encrypted: string | null
  grace_until: number | null
}

export type SessionRow = Selectable<SessionsTable>
export type NewSessionRow = Insertable<SessionsTable>
export type RefreshTokenRow = Selectable<RefreshTokensTable>
