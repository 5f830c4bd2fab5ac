import type { Client } from '../clients/client.js'
import type { Db } from '../db/database.js'
import { findConsent } from './consent.store.js'

/**
 * Third-party clients need the user's consent for every scope they ask for and for the audience
 * (resource) the tokens will be for; first-party ones never.
 */
export async function needsConsent(
  db: Db,
  userId: string,
  client: Client,
  scopes: string[],
  audience: string,
): Promise<boolean> {
  if (client.firstParty) return false
  const consent = await findConsent(db, userId, client.id)
  if (!consent) return true
  const granted = new Set(consent.scopes)
  return scopes.some((s) => !granted.has(s)) || !consent.audiences.includes(audience)
}
