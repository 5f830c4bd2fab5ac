import type { Selectable } from 'kysely'

/** A user's WebAuthn credential (passkey). */
export interface PasskeysTable {
  id: string
  user_id: string
  /** The authenticator's credential id, base64url. */
  credential_id: string
  /** COSE public key, base64url. */
  public_key: string
  sign_count: number
  /** JSON array of AuthenticatorTransport values. */
  transports: string
  backup_eligible: number
  backed_up: number
  name: string
  created_at: number
  last_used_at: number | null
}

/** A challenge sent with creation or request options: single use, short-lived. */
export interface WebauthnChallengesTable {
  challenge: string
  purpose: ChallengePurpose
  user_id: string | null
  created_at: number
  expires_at: number
}

export type ChallengePurpose = 'register' | 'login'

export type PasskeyRow = Selectable<PasskeysTable>
