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
  /** private_key_jwt: where the client publishes its public keys (https unless loopback)… */
  jwks_uri: string | null
  /** …or its public JSON Web Key Set, registered inline. At most one of the two is set. */
  jwks: string | null
  /** 1: token requests must carry a DPoP proof (RFC 9449 §5.2). */
  require_dpop: number
  /** 1: may introspect tokens for its audiences (RFC 7662 §2.1); 0 by default. */
  introspection: number
  /** JSON array of URIs a logout may return to (OIDC RP-Initiated Logout §3.1), compared by exact string. */
  post_logout_redirect_uris: string
  /** Where logout tokens are posted (OIDC Back-Channel Logout §2.2); null: none. */
  backchannel_logout_uri: string | null
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

/** Client assertions already used (RFC 7523 §3), until they expire; used when REDIS_URL is not set. */
export interface ClientAssertionJtisTable {
  /** sha256 of client id and jti, base64url. */
  jti_hash: string
  expires_at: number
}
