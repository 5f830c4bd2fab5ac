import type { Insertable, Selectable } from 'kysely'

export type KeyState = 'next' | 'active' | 'retired' | 'removed'

export interface SigningKeysTable {
  kid: string
  alg: string
  state: KeyState
  /** Public JWK as JSON, members chosen by allow-list. */
  public_jwk: string
  /** Private JWK as a compact JWE (dir + A256GCM under the KEK); null once the key is removed. */
  private_jwk_encrypted: string | null
  created_at: number
  activated_at: number | null
  retired_at: number | null
  /** A retired key leaves the JWKS at this instant: last token it signed has expired, plus clock skew. */
  publish_until: number | null
  removed_at: number | null
}

export interface KeyLifecycleLockTable {
  id: number
  locked_at: number
}

export type SigningKeyRow = Selectable<SigningKeysTable>
export type NewSigningKeyRow = Insertable<SigningKeysTable>

/** The tables keys/ owns; the server's Database includes them. */
export interface KeysDatabase {
  signing_keys: SigningKeysTable
  key_lifecycle_lock: KeyLifecycleLockTable
}
