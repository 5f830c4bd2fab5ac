import { ApiError, NotFound } from '../errors.js'
import { ADMIN_SCOPE, viewClient, type Client, type ClientView } from '../clients/client.js'
import { generateClientSecret, hashClientSecret } from '../clients/client-secret.js'
import { deleteClientWithCutOff, findClientById, listClients, replaceClientSecret } from '../clients/client.store.js'
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

export async function updateClientAsAdmin(
  deps: AdminDeps,
  actor: Actor,
  id: string,
  changes: ClientChanges,
): Promise<ClientView> {
  const client = await findClientForAdmin(deps, id)
  const updated = await updateClient(deps, client, changes, operator).catch(asClientMetadataError)
  await auditAdminAction(deps, actor, {
    event: 'client.updated',
    details: { target_client_id: id, changed: Object.keys(changes).sort().join(',') },
  })
  return viewClient(updated)
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
    return endClientAccess(trx, id, now)
  })
  if (revoked === null) throw new NotFound(`no client with id ${id}`)
  await auditAdminAction(deps, actor, {
    event: 'client.deleted',
    details: { target_client_id: id, sessions_revoked: revoked.length },
  })
  return { deleted: id, sessions_revoked: revoked.length }
}

/**
 * A new secret for a confidential client, shown once. The old one keeps working for
 * config.clientSecretOverlapMs so deployments can switch over, or not at all with revokeOld
 * (a leaked secret). A secret replaced earlier and still in its overlap ends now either way.
 */
export async function rotateClientSecret(
  deps: AdminDeps,
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
  await replaceClientSecret(deps.db, id, hashClientSecret(secret), previous, now)
  await auditAdminAction(deps, actor, {
    event: 'client.secret_rotated',
    details: { target_client_id: id, revoke_old: options.revokeOld, overlap_ms: overlap },
  })
  return {
    ...viewClient(client),
    client_secret: secret,
    previous_secret_expires_at: previous === null ? null : new Date(previous.expiresAt).toISOString(),
  }
}
