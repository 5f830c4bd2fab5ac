import type { Deps } from '../deps.js'
import { NotFound } from '../errors.js'
import { enqueueMail } from '../mail/outbox.store.js'
import type { Passkey } from '../passkeys/passkey.js'
import { deletePasskey } from '../passkeys/passkey.store.js'
import { deleteMfaChallengesOfUser } from './mfa-challenge.store.js'

/**
 * Removes one of the user's passkeys (a second factor), ends their pending second steps as
 * removeTotp does, and mails the owner, in one transaction. Another user's passkey id answers
 * exactly like an unknown one.
 */
export async function removePasskey(deps: Pick<Deps, 'db' | 'clock'>, userId: string, id: string): Promise<Passkey> {
  const now = deps.clock.now()
  const removed = await deps.db.transaction().execute(async (trx) => {
    const passkey = await deletePasskey(trx, userId, id)
    if (passkey) {
      await deleteMfaChallengesOfUser(trx, userId)
      await enqueueMail(trx, { template: 'passkey_removed', userId }, now)
    }
    return passkey
  })
  if (!removed) throw new NotFound('no such passkey')
  return removed
}
