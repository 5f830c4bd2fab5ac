import type { Client } from '../clients/client.js'
import type { Db } from '../db/database.js'
import { findConsent } from './consent.store.js'

/** Third-party clients need the user's consent for every scope they ask for; first-party ones never. */
export async function needsConsent(db: Db, userId: string, client: Client, scopes: string[]): Promise<boolean> {
  if (client.firstParty) return false
  const consent = await findConsent(db, userId, client.id)
  if (!consent) return true
  const granted = new Set(consent.scope === '' ? [] : consent.scope.split(' '))
  return scopes.some((s) => !granted.has(s))
}
