import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server'
import { loadWebauthnServer } from './webauthn-library.js'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import type { User } from '../users/user.js'
import { findUserById } from '../users/user.store.js'
import type { Passkey } from './passkey.js'
import { passkeyAmr } from './passkey-amr.js'
import { CHALLENGE_TTL_MS, storeChallenge, takeChallenge } from './passkey-challenge.js'
import { findPasskeyByCredentialId, findPasskeysOfUser, recordPasskeyUse } from './passkey.store.js'
import { relyingPartyOf } from './relying-party.js'

/**
 * Request options for a sign-in with a discoverable credential: no allow-list (the authenticator
 * offers the user's passkeys for this RP, so no email address is asked and none is revealed),
 * user verification required. As the second step after a password (`forUserId`), the user is
 * known: the options list their passkeys and the challenge is bound to them.
 */
export async function createAuthenticationOptions(
  deps: Pick<Deps, 'db' | 'clock' | 'config'>,
  forUserId: string | null = null,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const allowCredentials =
    forUserId === null ? undefined : (await findPasskeysOfUser(deps.db, forUserId)).map((p) => ({ id: p.credentialId }))
  const { generateAuthenticationOptions } = await loadWebauthnServer()
  const options = await generateAuthenticationOptions({
    rpID: relyingPartyOf(deps.config).id,
    userVerification: 'required',
    timeout: CHALLENGE_TTL_MS,
    ...(allowCredentials ? { allowCredentials } : {}),
  })
  await storeChallenge(deps, options.challenge, 'login', forUserId)
  return options
}

/** One answer for every way a sign-in assertion fails: nothing tells which part was wrong. */
const rejected = () => new ApiError('passkey_rejected', 401, 'the passkey could not be verified')

/**
 * Checks a sign-in assertion: our unused, unexpired challenge; a registered credential whose
 * owner is the user handle and is enabled; the exact origin and RP id; user verification; the
 * signature; a signature counter that moved forward (a cloned authenticator shows as a counter
 * that does not). Returns the user and the RFC 8176 methods of this sign-in.
 */
export async function authenticatePasskey(
  deps: Pick<Deps, 'db' | 'clock' | 'config' | 'log'>,
  response: AuthenticationResponseJSON,
  context: { ip: string | null; forUserId?: string },
): Promise<{ user: User; passkey: Passkey; amr: string[] }> {
  const forUserId = context.forUserId ?? null
  const challenge = await takeChallenge(deps, response.response.clientDataJSON, 'login', forUserId)
  const passkey = await findPasskeyByCredentialId(deps.db, response.id)
  const fail = async (reason: string, userId: string | null) => {
    await recordAuditEvent(deps, {
      event: 'passkey_login.failed',
      userId,
      ip: context.ip,
      details: { reason },
    })
    return rejected()
  }
  if (!passkey) throw await fail('unknown_credential', null)
  if (forUserId !== null && passkey.userId !== forUserId) throw await fail('other_user', forUserId)
  const userHandle = response.response.userHandle
  if (userHandle !== undefined && Buffer.from(userHandle, 'base64url').toString('utf8') !== passkey.userId)
    throw await fail('user_handle_mismatch', passkey.userId)
  const user = await findUserById(deps.db, passkey.userId)
  if (!user || user.disabled) throw await fail('user_unavailable', passkey.userId)
  const rp = relyingPartyOf(deps.config)
  const { verifyAuthenticationResponse } = await loadWebauthnServer()
  let verification
  try {
    verification = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      credential: { id: passkey.credentialId, publicKey: passkey.publicKey, counter: passkey.signCount },
      requireUserVerification: true,
    })
  } catch (error) {
    throw await fail(reasonOf(error), user.id)
  }
  if (!verification.verified) throw await fail('signature', user.id)
  const info = verification.authenticationInfo
  const moved = await recordPasskeyUse(deps.db, passkey, {
    signCount: info.newCounter,
    backedUp: info.credentialBackedUp,
    now: deps.clock.now(),
  })
  if (!moved) throw await fail('counter', user.id)
  return { user, passkey, amr: passkeyAmr(passkey) }
}

/** A coarse, stable reason for the audit trail (the library's messages are not an interface). */
function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : ''
  if (/origin/i.test(message)) return 'origin'
  if (/RP ID/i.test(message)) return 'rp_id'
  if (/counter/i.test(message)) return 'counter'
  if (/user verification|not verified/i.test(message)) return 'user_verification'
  return 'invalid_response'
}
