import type { Static } from '@sinclair/typebox'
import type { Passkey } from './passkey.js'
import type { PasskeyView } from './passkeys.schema.js'

const iso = (ms: number) => new Date(ms).toISOString()

/** A passkey as the API shows it: no credential id or public key. */
export function passkeyView(passkey: Passkey): Static<typeof PasskeyView> {
  return {
    id: passkey.id,
    name: passkey.name,
    created_at: iso(passkey.createdAt),
    last_used_at: passkey.lastUsedAt === null ? null : iso(passkey.lastUsedAt),
    backup_eligible: passkey.backupEligible,
    backed_up: passkey.backedUp,
    transports: passkey.transports,
  }
}
