import type { JWK } from 'jose'
import type { ClientRow } from './client.table.js'

/** Latchkey's built-in client: the first-party account API (/auth/login, /auth/refresh) acts as it. */
export const FIRST_PARTY_CLIENT_ID = 'latchkey'

/** The scope that opens the admin API; only the CLI or an admin may give it to a client. */
export const ADMIN_SCOPE = 'latchkey:admin'

/** RFC 8628 §3.4 */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
/** RFC 8693 §2.1 */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'

export const grantTypes = [
  'client_credentials',
  'refresh_token',
  'authorization_code',
  DEVICE_CODE_GRANT,
  TOKEN_EXCHANGE_GRANT,
] as const
export type GrantType = (typeof grantTypes)[number]

export interface Client {
  id: string
  name: string
  type: 'confidential' | 'public'
  secretHash: string | null
  /** The secret replaced by the last rotation and until when it still works (epoch ms). */
  previousSecret: { hash: string; expiresAt: number } | null
  grantTypes: GrantType[]
  scopes: string[]
  audiences: string[]
  redirectUris: string[]
  /** The operator's own app: no consent page (issue 6). */
  firstParty: boolean
  /** private_key_jwt (RFC 7523 §2.2): the URL of the client's public keys, or… */
  jwksUri: string | null
  /** …its public keys registered inline (public members only). */
  jwks: JWK[] | null
  /** Token requests must carry a DPoP proof (RFC 9449 §5.2, dpop_bound_access_tokens). */
  requireDpop: boolean
  /** May call /oauth/introspect, for tokens of its own audiences (RFC 7662 §2.1). */
  introspection: boolean
  /** OIDC RP-Initiated Logout §3.1: where a logout may return to. */
  postLogoutRedirectUris: string[]
  /** OIDC Back-Channel Logout §2.2: where logout tokens are posted, or null. */
  backchannelLogoutUri: string | null
  /** Codes only for sign-ins that completed a second factor (`clients create --require-mfa`). */
  requireMfa: boolean
  createdAt: number
  /** The last change by an operator (epoch ms); a fetched key set is cached per update. */
  updatedAt: number
  /**
   * The client's last cut-off (epoch ms: its secret or keys ended at once, revoke_old), read with
   * the row in the same statement by findClientById (what the lookup cache holds), or null; null
   * too from listClients, which does not read it. The token endpoint refuses the client until
   * tokensValidFrom(cutOffAt) (client-lookup.ts), as a token issued before then is void.
   */
  cutOffAt: number | null
}

/** How a client authenticates (RFC 7591 §2 names); a secret works with Basic and in the body alike. */
export type TokenEndpointAuthMethod = 'client_secret_basic' | 'private_key_jwt' | 'none'

export function authMethodOf(client: Pick<Client, 'type' | 'jwksUri' | 'jwks'>): TokenEndpointAuthMethod {
  if (client.jwksUri !== null || client.jwks !== null) return 'private_key_jwt'
  return client.type === 'public' ? 'none' : 'client_secret_basic'
}

export function clientFromRow(row: ClientRow & { cut_off_at?: number | string | null }): Client {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    secretHash: row.secret_hash,
    previousSecret:
      row.previous_secret_hash === null || row.previous_secret_expires_at === null
        ? null
        : { hash: row.previous_secret_hash, expiresAt: Number(row.previous_secret_expires_at) },
    grantTypes: JSON.parse(row.grant_types) as GrantType[],
    scopes: row.scope === '' ? [] : row.scope.split(' '),
    audiences: JSON.parse(row.audiences) as string[],
    redirectUris: JSON.parse(row.redirect_uris) as string[],
    firstParty: row.first_party === 1,
    jwksUri: row.jwks_uri ?? null,
    jwks: row.jwks == null ? null : (JSON.parse(row.jwks) as { keys: JWK[] }).keys,
    requireDpop: row.require_dpop === 1,
    introspection: Number(row.introspection) === 1,
    postLogoutRedirectUris: JSON.parse(row.post_logout_redirect_uris) as string[],
    backchannelLogoutUri: row.backchannel_logout_uri,
    requireMfa: row.require_mfa === 1,
    createdAt: row.created_at,
    updatedAt: Number(row.updated_at),
    cutOffAt: row.cut_off_at == null ? null : Number(row.cut_off_at),
  }
}

/** The client as shown to operators (CLI, admin API): never the secret hash. */
export interface ClientView {
  client_id: string
  name: string
  type: 'confidential' | 'public'
  grant_types: GrantType[]
  scope: string
  audiences: string[]
  redirect_uris: string[]
  first_party: boolean
  token_endpoint_auth_method: TokenEndpointAuthMethod
  jwks_uri: string | null
  jwks: { keys: JWK[] } | null
  require_dpop: boolean
  introspection: boolean
  post_logout_redirect_uris: string[]
  backchannel_logout_uri: string | null
  require_mfa: boolean
  created_at: string
}

export function viewClient(client: Client): ClientView {
  return {
    client_id: client.id,
    name: client.name,
    type: client.type,
    grant_types: client.grantTypes,
    scope: client.scopes.join(' '),
    audiences: client.audiences,
    redirect_uris: client.redirectUris,
    first_party: client.firstParty,
    token_endpoint_auth_method: authMethodOf(client),
    jwks_uri: client.jwksUri,
    jwks: client.jwks === null ? null : { keys: client.jwks },
    require_dpop: client.requireDpop,
    introspection: client.introspection,
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    backchannel_logout_uri: client.backchannelLogoutUri,
    require_mfa: client.requireMfa,
    created_at: new Date(client.createdAt).toISOString(),
  }
}
