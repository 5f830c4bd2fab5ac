import { randomBytes } from 'node:crypto'
import type { Clock } from '../clock.js'
import type { Db } from '../db/database.js'
import { isScopeToken } from './scope.js'
import { findAbsoluteUriProblem, findJwksUriProblem, findRedirectUriProblem } from '../url-rules.js'
import { readRegisteredJwks } from './client-public-keys.js'
import { generateClientSecret, hashClientSecret } from './client-secret.js'
import { ADMIN_SCOPE, TOKEN_EXCHANGE_GRANT, clientFromRow, grantTypes, type Client, type GrantType } from './client.js'
import { insertClient, updateClientRow } from './client.store.js'

export interface ClientRegistration {
  name: string
  type: 'confidential' | 'public'
  grantTypes: string[]
  scopes: string[]
  audiences: string[]
  redirectUris: string[]
  /** The operator's own app: signs users in without a consent page. */
  firstParty?: boolean
  /** private_key_jwt (RFC 7523 §2.2): where the client publishes its public keys… */
  jwksUri?: string | null
  /** …or its public JSON Web Key Set itself (parsed JSON). At most one of the two; no secret then. */
  jwks?: unknown
  /** Token requests must carry a DPoP proof (RFC 9449 §5.2). */
  requireDpop?: boolean
  /** May introspect tokens whose audience is one of its audiences (confidential clients only). */
  introspection?: boolean
  /** OIDC RP-Initiated Logout §3.1: where a logout may return to (same rules as redirect URIs). */
  postLogoutRedirectUris?: string[]
  /** OIDC Back-Channel Logout §2.2: where logout tokens are posted; https unless loopback. */
  backchannelLogoutUri?: string | null
  /** Codes only for sign-ins that completed a second factor. */
  requireMfa?: boolean
}

export class ClientRegistrationError extends Error {
  override name = 'ClientRegistrationError'
}

const redirectUriProblems = {
  not_absolute: 'is not an absolute URI',
  fragment: 'must not have a fragment',
  cleartext: 'must use https unless its host is loopback',
  forbidden_scheme: 'uses a forbidden scheme',
}

function assertRedirectUri(uri: string, what = 'redirect URI'): void {
  const problem = findRedirectUriProblem(uri)
  if (problem !== null) throw new ClientRegistrationError(`${what} "${uri}" ${redirectUriProblems[problem]}`)
}

/**
 * OIDC Back-Channel Logout §2.2: an absolute http(s) URL without a fragment (a query is allowed),
 * https unless the host is loopback: the same rules as a redirect URI, and a server to call.
 */
function assertBackchannelLogoutUri(uri: string): void {
  assertRedirectUri(uri, 'backchannel logout URI')
  if (!/^https?:/.test(uri)) throw new ClientRegistrationError(`backchannel logout URI "${uri}" must be http(s)`)
}

const audienceProblems = { not_absolute: 'is not an absolute URI', fragment: 'must not have a fragment' }

function assertAudience(audience: string): void {
  const problem = findAbsoluteUriProblem(audience)
  if (problem !== null) throw new ClientRegistrationError(`audience "${audience}" ${audienceProblems[problem]}`)
}

/** Who registers or changes the client: only the operator (CLI) or an admin may hand out the admin scope. */
export interface RegistrationAuthority {
  mayGrantAdminScope: boolean
}

const jwksUriProblems = {
  not_absolute: 'is not an absolute URL',
  not_http: 'must be an http(s) URL',
  cleartext: 'must use https unless its host is loopback',
  credentials: 'must not contain credentials',
  fragment: 'must not have a fragment',
}

/** The client's keys as stored: a jwks_uri, or the public members of an inline set (or neither). */
function readClientKeys(registration: ClientRegistration): { jwksUri: string | null; jwks: string | null } {
  const jwksUri = registration.jwksUri ?? null
  const jwks = registration.jwks ?? null
  if (jwksUri === null && jwks === null) return { jwksUri: null, jwks: null }
  if (jwksUri !== null && jwks !== null) throw new ClientRegistrationError('give either a jwks_uri or a jwks, not both')
  // RFC 7523 §2.2 authenticates a client that holds a key: a public client holds nothing.
  if (registration.type === 'public') throw new ClientRegistrationError('a public client cannot use private_key_jwt')
  if (jwksUri !== null) {
    const problem = jwksUri.length > 2000 ? 'not_absolute' : findJwksUriProblem(jwksUri)
    if (problem !== null) throw new ClientRegistrationError(`jwks_uri "${jwksUri}" ${jwksUriProblems[problem]}`)
    return { jwksUri, jwks: null }
  }
  const read = readRegisteredJwks(jwks)
  if (typeof read === 'string') throw new ClientRegistrationError(`the JWKS ${read}`)
  return { jwksUri: null, jwks: JSON.stringify({ keys: read.keys.map((key) => key.jwk) }) }
}

function assertValidRegistration(
  registration: ClientRegistration,
  authority: RegistrationAuthority,
): asserts registration is ClientRegistration & { grantTypes: GrantType[] } {
  if (registration.scopes.includes(ADMIN_SCOPE) && !authority.mayGrantAdminScope)
    throw new ClientRegistrationError(`only the CLI or an admin may give a client the scope ${ADMIN_SCOPE}`)
  const { name, type } = registration
  if (name.trim() === '' || name.length > 200) throw new ClientRegistrationError('name must be 1 to 200 characters')
  if (registration.grantTypes.length === 0) throw new ClientRegistrationError('at least one grant type is required')
  for (const grant of registration.grantTypes) {
    if (!(grantTypes as readonly string[]).includes(grant))
      throw new ClientRegistrationError(`unknown grant type "${grant}" (one of ${grantTypes.join(', ')})`)
  }
  // RFC 6749 §4.4: client credentials are for confidential clients only.
  if (type === 'public' && registration.grantTypes.includes('client_credentials')) {
    throw new ClientRegistrationError('a public client cannot use client_credentials')
  }
  // RFC 8693 §2.1: the exchanging service must authenticate (docs/token-exchange.md).
  if (type === 'public' && registration.grantTypes.includes(TOKEN_EXCHANGE_GRANT)) {
    throw new ClientRegistrationError('a public client cannot use token exchange')
  }
  for (const scope of registration.scopes) {
    if (!isScopeToken(scope)) throw new ClientRegistrationError(`scope "${scope}" is not a valid scope token`)
  }
  registration.audiences.forEach(assertAudience)
  // RFC 7662 §2.1: the caller of the introspection endpoint must authenticate.
  if (registration.introspection === true && type === 'public')
    throw new ClientRegistrationError('a public client cannot introspect tokens')
  if (registration.introspection === true && registration.audiences.length === 0)
    throw new ClientRegistrationError('introspection needs at least one audience')
  registration.redirectUris.forEach((uri) => assertRedirectUri(uri))
  for (const uri of registration.postLogoutRedirectUris ?? []) assertRedirectUri(uri, 'post-logout redirect URI')
  if (registration.backchannelLogoutUri != null) assertBackchannelLogoutUri(registration.backchannelLogoutUri)
  if (registration.grantTypes.includes('authorization_code') && registration.redirectUris.length === 0) {
    throw new ClientRegistrationError('authorization_code needs at least one redirect URI')
  }
}

/** Registers a client; the secret (confidential clients only) is returned once and stored only as a hash. */
export async function createClient(
  deps: { db: Db; clock: Clock },
  registration: ClientRegistration,
  authority: RegistrationAuthority = { mayGrantAdminScope: false },
): Promise<{ client: Client; secret: string | null }> {
  assertValidRegistration(registration, authority)
  const keys = readClientKeys(registration)
  const now = deps.clock.now()
  const id = randomBytes(16).toString('base64url')
  // A private_key_jwt client proves itself with its key: it gets no secret to leak.
  const secret =
    registration.type === 'confidential' && keys.jwksUri === null && keys.jwks === null ? generateClientSecret() : null
  const row = {
    id,
    name: registration.name.trim(),
    type: registration.type,
    secret_hash: secret === null ? null : hashClientSecret(secret),
    previous_secret_hash: null,
    previous_secret_expires_at: null,
    grant_types: JSON.stringify([...new Set(registration.grantTypes)]),
    scope: [...new Set(registration.scopes)].join(' '),
    audiences: JSON.stringify([...new Set(registration.audiences)]),
    redirect_uris: JSON.stringify([...new Set(registration.redirectUris)]),
    first_party: registration.firstParty ? 1 : 0,
    jwks_uri: keys.jwksUri,
    jwks: keys.jwks,
    require_dpop: registration.requireDpop ? 1 : 0,
    introspection: registration.introspection ? 1 : 0,
    post_logout_redirect_uris: JSON.stringify([...new Set(registration.postLogoutRedirectUris ?? [])]),
    backchannel_logout_uri: registration.backchannelLogoutUri ?? null,
    require_mfa: registration.requireMfa ? 1 : 0,
    created_at: now,
    updated_at: now,
  }
  await insertClient(deps.db, row)
  return { client: clientFromRow(row), secret }
}

/** What an update may change; the type (public or confidential) and the secret stay, unless keys are given. */
export type ClientChanges = Partial<Omit<ClientRegistration, 'type'>>

/** Applies changes to a client under the same rules as registration; null if the client is unknown. */
export async function updateClient(
  deps: { db: Db; clock: Clock },
  client: Client,
  changes: ClientChanges,
  authority: RegistrationAuthority,
): Promise<Client> {
  const registration: ClientRegistration = {
    name: changes.name ?? client.name,
    type: client.type,
    grantTypes: changes.grantTypes ?? client.grantTypes,
    scopes: changes.scopes ?? client.scopes,
    audiences: changes.audiences ?? client.audiences,
    redirectUris: changes.redirectUris ?? client.redirectUris,
    firstParty: changes.firstParty ?? client.firstParty,
    requireDpop: changes.requireDpop ?? client.requireDpop,
    introspection: changes.introspection ?? client.introspection,
    postLogoutRedirectUris: changes.postLogoutRedirectUris ?? client.postLogoutRedirectUris,
    backchannelLogoutUri:
      changes.backchannelLogoutUri !== undefined ? changes.backchannelLogoutUri : client.backchannelLogoutUri,
    requireMfa: changes.requireMfa ?? client.requireMfa,
  }
  assertValidRegistration(registration, authority)
  // New keys replace the old ones (a jwks_uri replaces an inline set and the other way round); a
  // client given keys loses its secret, as private_key_jwt clients have none.
  const newKeys =
    changes.jwksUri != null || changes.jwks != null
      ? readClientKeys({ ...registration, jwksUri: changes.jwksUri ?? null, jwks: changes.jwks ?? null })
      : null
  const row = {
    ...(newKeys === null
      ? {}
      : {
          jwks_uri: newKeys.jwksUri,
          jwks: newKeys.jwks,
          secret_hash: null,
          previous_secret_hash: null,
          previous_secret_expires_at: null,
        }),
    name: registration.name.trim(),
    grant_types: JSON.stringify([...new Set(registration.grantTypes)]),
    scope: [...new Set(registration.scopes)].join(' '),
    audiences: JSON.stringify([...new Set(registration.audiences)]),
    redirect_uris: JSON.stringify([...new Set(registration.redirectUris)]),
    first_party: registration.firstParty ? 1 : 0,
    require_dpop: registration.requireDpop ? 1 : 0,
    introspection: registration.introspection ? 1 : 0,
    post_logout_redirect_uris: JSON.stringify([...new Set(registration.postLogoutRedirectUris ?? [])]),
    backchannel_logout_uri: registration.backchannelLogoutUri ?? null,
    require_mfa: registration.requireMfa ? 1 : 0,
    updated_at: deps.clock.now(),
  }
  return updateClientRow(deps.db, client.id, row)
}
