import type { Selectable } from 'kysely'

/** A user's TOTP factor (RFC 6238); it counts only once confirmed. */
export interface TotpFactorsTable {
  user_id: string
  /** The base32 secret as a compact JWE under the TOTP key derived from the KEK, bound to the user. */
  secret_sealed: string
  created_at: number
  confirmed_at: number | null
  /** The newest 30-second step whose code was accepted: no code is taken twice. */
  last_used_step: number | null
}

/** One recovery code: an HMAC of it under a key derived from the KEK, and when it was used. */
export interface RecoveryCodesTable {
  user_id: string
  code_hash: string
  created_at: number
  used_at: number | null
}

/** A sign-in waiting for its second step; the mfa_token's sha256 names it. */
export interface MfaChallengesTable {
  token_hash: string
  user_id: string
  /** JSON array: what the first step proved (RFC 8176 values, e.g. ["pwd"]). */
  amr: string
  /** When the first step was proved. */
  auth_time: number
  failures: number
  created_at: number
  expires_at: number
  used_at: number | null
}

export type TotpFactorRow = Selectable<TotpFactorsTable>
export type MfaChallengeRow = Selectable<MfaChallengesTable>
