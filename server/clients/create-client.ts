import { randomBytes } from 'node:crypto'
import type { Clock } from '../clock.js'
import type { Db } from '../db/database.js'
import { isScopeToken } from './scope.js'
import { findAbsoluteUriProblem, findRedirectUriProblem } from '../url-rules.js'
import { generateClientSecret, hashClientSecret } from './client-secret.js'
import { ADMIN_SCOPE, clientFromRow, grantTypes, type Client, type GrantType } from './client.js'
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

function assertRedirectUri(uri: string): void {
  const problem = findRedirectUriProblem(uri)
  if (problem !== null) throw new ClientRegistrationError(`redirect URI "${uri}" ${redirectUriProblems[problem]}`)
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
  for (const scope of registration.scopes) {
    if (!isScopeToken(scope)) throw new ClientRegistrationError(`scope "${scope}" is not a valid scope token`)
  }
  registration.audiences.forEach(assertAudience)
  registration.redirectUris.forEach(assertRedirectUri)
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
  const now = deps.clock.now()
  const id = randomBytes(16).toString('base64url')
  const secret = registration.type === 'confidential' ? generateClientSecret() : null
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
    require_mfa: registration.requireMfa ? 1 : 0,
    created_at: now,
    updated_at: now,
  }
  await insertClient(deps.db, row)
  return { client: clientFromRow(row), secret }
}

/** What an update may change; the type (public or confidential) and the secret stay. */
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
    requireMfa: changes.requireMfa ?? client.requireMfa,
  }
  assertValidRegistration(registration, authority)
  const row = {
    name: registration.name.trim(),
    grant_types: JSON.stringify([...new Set(registration.grantTypes)]),
    scope: [...new Set(registration.scopes)].join(' '),
    audiences: JSON.stringify([...new Set(registration.audiences)]),
    redirect_uris: JSON.stringify([...new Set(registration.redirectUris)]),
    first_party: registration.firstParty ? 1 : 0,
    require_mfa: registration.requireMfa ? 1 : 0,
    updated_at: deps.clock.now(),
  }
  return updateClientRow(deps.db, client.id, row)
}
