import type { Client } from '../clients/client.js'
import type { Deps } from '../deps.js'
import { InvalidGrant } from '../errors.js'
import { hashOpaqueToken } from '../opaque-token.js'
import { findRefreshTokenByHash } from '../sessions/refresh-token.store.js'
import { bindSessionToDpopKey, findSessionDpopKey } from '../sessions/session-dpop.store.js'
import { InvalidDpopProof } from './dpop-errors.js'
import type { DpopBinding } from './dpop-token-request.js'

/**
 * RFC 9449 §5: a public client has no credential of its own, so its refresh tokens are bound to
 * the DPoP key of the request that opened the session. Confidential clients authenticate on every
 * refresh, so theirs stay unbound (§5, last paragraph).
 */
export async function bindRefreshTokensToKey(
  deps: Pick<Deps, 'db'>,
  client: Client,
  sessionId: string,
  binding: DpopBinding | undefined,
): Promise<void> {
  if (client.type === 'public' && binding?.jkt != null) await bindSessionToDpopKey(deps.db, sessionId, binding.jkt)
}

/**
 * Before rotation: a bound refresh token is refused without a proof, or with one of another key.
 * An unbound one of a public client presented with a proof is bound to that key first (RFC 9449 §5:
 * the refresh token issued in answer MUST be bound), once: of two refreshes racing with different
 * keys only the one whose key was written goes on.
 */
export async function bindOrCheckRefreshTokenKey(
  deps: Pick<Deps, 'db'>,
  client: Client,
  refreshToken: string,
  binding: DpopBinding | undefined,
): Promise<void> {
  const found = await findRefreshTokenByHash(deps.db, hashOpaqueToken(refreshToken))
  if (!found) return // rotation answers invalid_grant for an unknown token
  let jkt = await findSessionDpopKey(deps.db, found.session.id)
  // Only the client the family belongs to may bind it; rotation refuses any other.
  if (jkt === null && client.type === 'public' && binding?.jkt != null && found.session.clientId === client.id) {
    await bindSessionToDpopKey(deps.db, found.session.id, binding.jkt)
    jkt = await findSessionDpopKey(deps.db, found.session.id)
  }
  if (jkt === null) return
  if (binding?.jkt == null) throw new InvalidDpopProof('this refresh token is bound to a DPoP key: send a DPoP proof')
  if (binding.jkt !== jkt) throw new InvalidGrant('the refresh token is bound to another DPoP key')
}
