import type { Selectable } from 'kysely'

/** Who is signed in at the hosted pages in one browser (the `__Host-latchkey_signin` cookie). */
export interface SigninSessionsTable {
  id: string
  user_id: string
  /** sha256 of the cookie value, base64url. */
  token_hash: string
  amr: string
  auth_time: number
  created_at: number
  expires_at: number
  revoked_at: number | null
}

export type SigninSessionRow = Selectable<SigninSessionsTable>
