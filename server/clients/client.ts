import type { ClientRow } from './client.table.js'

/** Latchkey's built-in client: the first-party account API (/auth/login, /auth/refresh) acts as it. */
export const FIRST_PARTY_CLIENT_ID = 'latchkey'

/** The scope that opens the admin API; only the CLI or an admin may give it to a client. */
export const ADMIN_SCOPE = 'latchkey:admin'

export const grantTypes = ['client_credentials', 'refresh_token', 'authorization_code'] as const
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
  /** Codes only for sign-ins that completed a second factor (`clients create --require-mfa`). */
  requireMfa: boolean
  createdAt: number
}

export function clientFromRow(row: ClientRow): Client {
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
    requireMfa: row.require_mfa === 1,
    createdAt: row.created_at,
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
    require_mfa: client.requireMfa,
    created_at: new Date(client.createdAt).toISOString(),
  }
}
