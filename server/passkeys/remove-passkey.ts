import type { Deps } from '../deps.js'
import { NotFound } from '../errors.js'
import { enqueueMail } from '../mail/outbox.store.js'
import type { Passkey } from './passkey.js'
import { deletePasskey } from './passkey.store.js'

/**
 * Removes one of the user's passkeys and mails the owner, in one transaction. Another user's
 * passkey id answers exactly like an unknown one.
 */
export async function removePasskey(deps: Pick<Deps, 'db' | 'clock'>, userId: string, id: string): Promise<Passkey> {
  const now = deps.clock.now()
  const removed = await deps.db.transaction().execute(async (trx) => {
    const passkey = await deletePasskey(trx, userId, id)
    if (passkey) await enqueueMail(trx, { template: 'passkey_removed', userId }, now)
    return passkey
  })
  if (!removed) throw new NotFound('no such passkey')
  return removed
}
