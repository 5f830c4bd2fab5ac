import type { Selectable } from 'kysely'

/** A one-time token mailed to a user (email verification or password reset); only its hash is kept. */
export interface AccountTokensTable {
  id: string
  user_id: string
  /** sha256 of the token, base64url. */
  token_hash: string
  /** The address the token was mailed to. */
  email: string
  /** When the request behind it was made; a token never outlives one for a newer request. */
  requested_at: number
  created_at: number
  expires_at: number
  used_at: number | null
}

export type AccountTokenTable = 'email_verification_tokens' | 'password_reset_tokens'
export type AccountTokenRow = Selectable<AccountTokensTable>
