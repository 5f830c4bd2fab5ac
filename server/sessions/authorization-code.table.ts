import type { Selectable } from 'kysely'

/** RFC 6749 §4.1.2: a single-use authorization code, stored only as its hash. */
export interface AuthorizationCodesTable {
  /** sha256 of the code, base64url. */
  code_hash: string
  client_id: string
  user_id: string
  redirect_uri: string
  /** Space-separated scopes granted. */
  scope: string
  audience: string
  /** RFC 7636 S256 challenge. */
  code_challenge: string
  nonce: string | null
  /** JSON array of authentication methods (RFC 8176). */
  amr: string
  auth_time: number
  /** The browser that signed in (shown with the session the code opens). */
  ip: string | null
  user_agent: string | null
  created_at: number
  expires_at: number
  used_at: number | null
  /** The session the exchange opened; revoked when the code is presented again. */
  session_id: string | null
  replayed_at: number | null
  /** The hosted sign-in that issued it; the session it opens remembers it. */
  signin_session_id: string | null
  /** RFC 9449 §10: the thumbprint of the DPoP key the code must be exchanged with (dpop_jkt). */
  dpop_jkt: string | null
}

export type AuthorizationCodeRow = Selectable<AuthorizationCodesTable>
