import { randomBytes } from 'node:crypto'
import type { Clock } from '../clock.js'
import type { Db } from '../db/database.js'
import { isScopeToken } from './scope.js'
import { generateClientSecret, hashClientSecret } from './client-secret.js'
import { clientFromRow, grantTypes, type Client, type GrantType } from './client.js'
import { insertClient } from './client.store.js'

export interface ClientRegistration {
  name: string
  type: 'confidential' | 'public'
  grantTypes: string[]
  scopes: string[]
  audiences: string[]
  redirectUris: string[]
  /** The operator's own app: signs users in without a consent page. */
  firstParty?: boolean
}

export class ClientRegistrationError extends Error {
  override name = 'ClientRegistrationError'
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname)
}

/** RFC 9700 §2.1 / RFC 8252: https, http only on loopback (native apps), or a private-use scheme; no fragment. */
function assertRedirectUri(uri: string): void {
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    throw new ClientRegistrationError(`redirect URI "${uri}" is not an absolute URI`)
  }
  if (uri.includes('#')) throw new ClientRegistrationError(`redirect URI "${uri}" must not have a fragment`)
  if (url.protocol === 'http:' && !isLoopback(url.hostname))
    throw new ClientRegistrationError(`redirect URI "${uri}" must use https unless its host is loopback`)
  if (['javascript:', 'data:', 'file:', 'vbscript:'].includes(url.protocol))
    throw new ClientRegistrationError(`redirect URI "${uri}" uses a forbidden scheme`)
}

function assertAudience(audience: string): void {
  try {
    new URL(audience)
  } catch {
    throw new ClientRegistrationError(`audience "${audience}" is not an absolute URI`)
  }
  if (audience.includes('#')) throw new ClientRegistrationError(`audience "${audience}" must not have a fragment`)
}

export function assertValidRegistration(
  registration: ClientRegistration,
): asserts registration is ClientRegistration & { grantTypes: GrantType[] } {
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
): Promise<{ client: Client; secret: string | null }> {
  assertValidRegistration(registration)
  const now = deps.clock.now()
  const id = randomBytes(16).toString('base64url')
  const secret = registration.type === 'confidential' ? generateClientSecret() : null
  const row = {
    id,
    name: registration.name.trim(),
    type: registration.type,
    secret_hash: secret === null ? null : hashClientSecret(secret),
    grant_types: JSON.stringify([...new Set(registration.grantTypes)]),
    scope: [...new Set(registration.scopes)].join(' '),
    audiences: JSON.stringify([...new Set(registration.audiences)]),
    redirect_uris: JSON.stringify([...new Set(registration.redirectUris)]),
    first_party: registration.firstParty ? 1 : 0,
    created_at: now,
    updated_at: now,
  }
  await insertClient(deps.db, row)
  return { client: clientFromRow(row), secret }
}
