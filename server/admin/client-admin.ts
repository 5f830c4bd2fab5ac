import type { Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import { ApiError, NotFound } from '../errors.js'
import { ADMIN_SCOPE, viewClient, type Client, type ClientView } from '../clients/client.js'
import { generateClientSecret, hashClientSecret } from '../clients/client-secret.js'
import type { FindClient } from '../clients/client-lookup.js'
import {
  cutOffClientTokens,
  deleteClientWithCutOff,
  findClientById,
  listClients,
  replaceClientSecret,
} from '../clients/client.store.js'
import {
  ClientRegistrationError,
  createClient,
  updateClient,
  type ClientChanges,
  type ClientRegistration,
} from '../clients/create-client.js'
import { endClientAccess } from '../sessions/end-user-access.js'
import { auditAdminAction, type Actor, type AdminDeps } from './admin-actor.js'
import { decodeCursor, readPage } from './page-cursor.js'

// The client operations of the admin API and the CLI: one function each, so both follow the same
// rules and leave the same audit trail. Only operators and admins call these, so they may give a
// client the admin scope.

const operator = { mayGrantAdminScope: true }

/** RFC 7591 §3.2.2's code for a client that breaks the registration rules. */
function asClientMetadataError(error: unknown): never {
  if (error instanceof ClientRegistrationError) throw new ApiError('invalid_client_metadata', 400, error.message)
  throw error
}

export async function findClientForAdmin(deps: AdminDeps, id: string): Promise<Client> {
  const client = await findClientById(deps.db, id)
  if (!client) throw new NotFound(`no client with id ${id}`)
  return client
}

export function listClientsPage(deps: AdminDeps, page: { cursor?: string; limit?: string | number }) {
  const after = decodeCursor(page.cursor)
  return readPage(
    page.limit,
    (limit) => listClients(deps.db, { limit, after }),
    (c) => ({ createdAt: c.createdAt, id: c.id }),
    viewClient,
  )
}

export async function createClientAsAdmin(
  deps: AdminDeps,
  actor: Actor,
  registration: ClientRegistration,
): Promise<ClientView & { client_secret?: string }> {
  // An admin client's tokens are for Latchkey itself unless the operator names another audience.
  const audiences =
    registration.scopes.includes(ADMIN_SCOPE) && registration.audiences.length === 0
      ? [deps.config.issuer]
      : registration.audiences
  const { client, secret } = await createClient(deps, { ...registration, audiences }, operator).catch(
    asClientMetadataError,
  )
  await auditAdminAction(deps, actor, {
    event: 'client.created',
    details: { target_client_id: client.id, scope: client.scopes.join(' ') },
  })
  return { ...viewClient(client), ...(secret === null ? {} : { client_secret: secret }) }
}

/**
 * Changes a client. This instance forgets its cached copy at once (a secret client given keys no
 * longer takes its secret here; other instances within CLIENT_CACHE_TTL_MS).
 *
 * revokeOld, only with new keys (jwks or jwks_uri, e.g. a leaked private key): also voids what the
 * old credentials obtained, in the same transaction, as rotateClientSecret does.
 */
export async function updateClientAsAdmin(
  deps: AdminDeps & { findClient?: FindClient },
  actor: Actor,
  id: string,
  changes: ClientChanges,
  options: { revokeOld?: boolean } = {},
): Promise<ClientView> {
  const revokeOld = options.revokeOld === true
  if (revokeOld && changes.jwks == null && changes.jwksUri == null)
    throw new ApiError('invalid_request', 400, 'revoke_old needs new keys (jwks or jwks_uri) in the same change')
  const client = await findClientForAdmin(deps, id)
  const now = deps.clock.now()
  const { updated, revoked } = await deps.db
    .transaction()
    .execute(async (trx) => {
      const updated = await updateClient({ db: trx, clock: deps.clock }, client, changes, operator)
      return { updated, revoked: revokeOld ? await voidWhatOldCredentialsObtained(trx, id, now, 'keys') : [] }
    })
    .catch(asClientMetadataError)
  deps.findClient?.forget(id)
  await auditAdminAction(deps, actor, {
    event: 'client.updated',
    details: {
      target_client_id: id,
      ...describeClientChanges(client, changes),
      ...(revokeOld ? { revoke_old: true, sessions_revoked: revoked.length } : {}),
    },
  })
  return viewClient(updated)
}

/**
 * What an update set, for the audit trail: the changed fields by their wire names, and the new
 * values of what decides what the client may do or where codes go (scope, with the scope before,
 * so a grant of latchkey:admin shows as such; grants; audiences; redirect and logout URIs; flags).
 * A key set (jwks) is recorded as changed only: it is long, and the audit trail never holds keys.
 */
function describeClientChanges(before: Client, changes: ClientChanges): Record<string, string | boolean | null> {
  const list = (values: string[] | undefined) => (values === undefined ? undefined : values.join(' '))
  const values: Record<string, string | boolean | null | undefined> = {
    name: changes.name,
    scope: list(changes.scopes),
    previous_scope: changes.scopes === undefined ? undefined : before.scopes.join(' '),
    grant_types: list(changes.grantTypes),
    audiences: list(changes.audiences),
    redirect_uris: list(changes.redirectUris),
    post_logout_redirect_uris: list(changes.postLogoutRedirectUris),
    backchannel_logout_uri: changes.backchannelLogoutUri,
    jwks_uri: changes.jwksUri,
    first_party: changes.firstParty,
    require_dpop: changes.requireDpop,
    introspection: changes.introspection,
    require_mfa: changes.requireMfa,
  }
  const wireNames: Record<keyof ClientChanges, string> = {
    name: 'name',
    grantTypes: 'grant_types',
    scopes: 'scope',
    audiences: 'audiences',
    redirectUris: 'redirect_uris',
    firstParty: 'first_party',
    jwksUri: 'jwks_uri',
    jwks: 'jwks',
    requireDpop: 'require_dpop',
    introspection: 'introspection',
    postLogoutRedirectUris: 'post_logout_redirect_uris',
    backchannelLogoutUri: 'backchannel_logout_uri',
    requireMfa: 'require_mfa',
  }
  const changed = (Object.keys(changes) as Array<keyof ClientChanges>)
    .filter((key) => changes[key] !== undefined)
    .map((key) => wireNames[key])
    .sort()
  const described: Record<string, string | boolean | null> = { changed: changed.join(',') }
  for (const [key, value] of Object.entries(values)) if (value !== undefined) described[key] = value
  return described
}

/**
 * Deletes a client and cuts off what it holds, in one transaction: every user's session with it
 * (listed in the revocation feed by sid), its unexchanged codes, and its own access tokens (a
 * client cut-off, refused at introspection and listed in the feed).
 */
export async function deleteClientAsAdmin(
  deps: AdminDeps,
  actor: Actor,
  id: string,
): Promise<{ deleted: string; sessions_revoked: number }> {
  const now = deps.clock.now()
  const revoked = await deps.db.transaction().execute(async (trx) => {
    if (!(await deleteClientWithCutOff(trx, id, now))) return null
    return endClientAccess(trx, id, now, 'client_deleted')
  })
  if (revoked === null) throw new NotFound(`no client with id ${id}`)
  await auditAdminAction(deps, actor, {
    event: 'client.deleted',
    details: { target_client_id: id, sessions_revoked: revoked.length },
  })
  return { deleted: id, sessions_revoked: revoked.length }
}

/**
 * Voids what a client's old credentials (a secret or keys ended at once, revoke_old) may have
 * obtained, in the caller's transaction: a client cut-off (its access tokens issued before now, and
 * in the CLIENT_CACHE_TTL_MS after it, when another instance may still accept the old credentials
 * from its cache, are refused by introspection, userinfo and the admin API, and listed in the
 * revocation feed by subject; the token endpoint refuses the client with 503 until then), and every
 * user's session with the client ends (listed by sid; their refresh tokens are dead), as do its
 * unexchanged codes. Returns the ids of the sessions it ended.
 */
async function voidWhatOldCredentialsObtained(
  trx: Transaction<Database>,
  id: string,
  now: number,
  credentials: 'secret' | 'keys',
): Promise<string[]> {
  await cutOffClientTokens(trx, id, now)
  return endClientAccess(trx, id, now, credentials === 'secret' ? 'client_secret_revoked' : 'client_keys_revoked')
}

/**
 * A new secret for a confidential client, shown once. The old one keeps working for
 * config.clientSecretOverlapMs so deployments can switch over, or not at all with revokeOld
 * (a leaked secret). A secret replaced earlier and still in its overlap ends now either way.
 *
 * revokeOld also voids what the old secret may have obtained, in the same transaction
 * (voidWhatOldCredentialsObtained). This instance forgets the client at once, so it never takes
 * the old secret again.
 */
export async function rotateClientSecret(
  deps: AdminDeps & { findClient?: FindClient },
  actor: Actor,
  id: string,
  options: { revokeOld: boolean },
): Promise<ClientView & { client_secret: string; previous_secret_expires_at: string | null }> {
  const client = await findClientForAdmin(deps, id)
  if (client.type !== 'confidential' || client.secretHash === null)
    throw new ApiError('invalid_request', 400, 'this client has no secret to rotate (public or private_key_jwt)')
  const now = deps.clock.now()
  const overlap = options.revokeOld ? 0 : deps.config.clientSecretOverlapMs
  const previous = overlap > 0 ? { hash: client.secretHash, expiresAt: now + overlap } : null
  const secret = generateClientSecret()
  const revoked = await deps.db.transaction().execute(async (trx) => {
    await replaceClientSecret(trx, id, hashClientSecret(secret), previous, now)
    return options.revokeOld ? voidWhatOldCredentialsObtained(trx, id, now, 'secret') : []
  })
  deps.findClient?.forget(id)
  await auditAdminAction(deps, actor, {
    event: 'client.secret_rotated',
    details: {
      target_client_id: id,
      revoke_old: options.revokeOld,
      overlap_ms: overlap,
      ...(options.revokeOld ? { sessions_revoked: revoked.length } : {}),
    },
  })
  return {
    ...viewClient(client),
    client_secret: secret,
    previous_secret_expires_at: previous === null ? null : new Date(previous.expiresAt).toISOString(),
  }
}
