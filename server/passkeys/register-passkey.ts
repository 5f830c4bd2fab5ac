import { randomBytes } from 'node:crypto'
import type { PublicKeyCredentialCreationOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server'
import { loadWebauthnServer } from './webauthn-library.js'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { enqueueMail } from '../mail/outbox.store.js'
import type { User } from '../users/user.js'
import type { Passkey } from './passkey.js'
import { CHALLENGE_TTL_MS, storeChallenge, takeChallenge } from './passkey-challenge.js'
import { findPasskeyByCredentialId, findPasskeysOfUser, insertPasskey } from './passkey.store.js'
import { relyingPartyOf } from './relying-party.js'

/**
 * Creation options for a signed-in user: a discoverable credential (so it signs in without an
 * email address), user verification required, no attestation asked (we trust no vendor list),
 * the user's existing passkeys excluded so one authenticator is not registered twice.
 */
export async function createRegistrationOptions(
  deps: Pick<Deps, 'db' | 'clock' | 'config'>,
  user: User,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const rp = relyingPartyOf(deps.config)
  const existing = await findPasskeysOfUser(deps.db, user.id)
  const { generateRegistrationOptions } = await loadWebauthnServer()
  const options = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userID: new TextEncoder().encode(user.id),
    userName: user.email,
    userDisplayName: user.name ?? user.email,
    timeout: CHALLENGE_TTL_MS,
    attestationType: 'none',
    excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports })),
    authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
  })
  await storeChallenge(deps, options.challenge, 'register', user.id)
  return options
}

/** Checks the browser's answer to createRegistrationOptions and stores the new passkey. */
export async function registerPasskey(
  deps: Pick<Deps, 'db' | 'clock' | 'config'>,
  user: User,
  response: RegistrationResponseJSON,
  name: string | undefined,
): Promise<Passkey> {
  const challenge = await takeChallenge(deps, response.response.clientDataJSON, 'register', user.id)
  const rp = relyingPartyOf(deps.config)
  const { verifyRegistrationResponse } = await loadWebauthnServer()
  let verification
  try {
    verification = await verifyRegistrationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: true,
    })
  } catch {
    throw new ApiError('passkey_rejected', 400, 'the passkey could not be verified')
  }
  if (!verification.verified) throw new ApiError('passkey_rejected', 400, 'the passkey could not be verified')
  const info = verification.registrationInfo
  const now = deps.clock.now()
  const passkey: Passkey = {
    id: randomBytes(16).toString('base64url'),
    userId: user.id,
    credentialId: info.credential.id,
    publicKey: info.credential.publicKey,
    signCount: info.credential.counter,
    transports: info.credential.transports ?? [],
    backupEligible: info.credentialDeviceType === 'multiDevice',
    backedUp: info.credentialBackedUp,
    name: name?.trim() || 'Passkey',
    createdAt: now,
    lastUsedAt: null,
  }
  try {
    await deps.db.transaction().execute(async (trx) => {
      await insertPasskey(trx, passkey)
      await enqueueMail(trx, { template: 'passkey_added', userId: user.id }, now)
    })
  } catch (error) {
    // The credential id is unique: this authenticator's key is already registered (to anyone).
    if ((await findPasskeyByCredentialId(deps.db, passkey.credentialId)) !== null)
      throw new ApiError('passkey_rejected', 400, 'this passkey is already registered')
    throw error
  }
  return passkey
}
