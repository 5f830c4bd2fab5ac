import type { Insertable, Selectable } from 'kysely'

export interface ClientsTable {
  id: string
  name: string
  type: 'confidential' | 'public'
  /** sha256 of the secret, base64url; null for public clients. */
  secret_hash: string | null
  /** The secret replaced by the last rotation, valid until previous_secret_expires_at (overlap). */
  previous_secret_hash: string | null
  previous_secret_expires_at: number | null
  /** JSON array of grant types. */
  grant_types: string
  /** Space-separated allowed scopes; also the default when a request names none. */
  scope: string
  /** JSON array of allowed audiences (RFC 8707 resources); the first is the default. */
  audiences: string
  /** JSON array of registered redirect URIs, compared by exact string. */
  redirect_uris: string
  /** 1: the operator's own app, which skips the consent page. */
  first_party: number
  /** 1: codes only for sign-ins that completed a second factor (`--require-mfa`). */
  require_mfa: number
  created_at: number
  updated_at: number
}

export type ClientRow = Selectable<ClientsTable>
export type NewClientRow = Insertable<ClientsTable>

/** A deleted client's cut-off: its access tokens issued before cut_off_at are void. */
export interface ClientCutOffsTable {
  client_id: string
  cut_off_at: number
}
