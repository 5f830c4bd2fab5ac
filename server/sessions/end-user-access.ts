import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import { enqueueMail } from '../mail/outbox.store.js'
import { deleteAccountTokensOfUser } from '../users/account-token.store.js'
import { cutOffUserTokens } from '../users/user.store.js'
import {
  deletePendingAuthorizationCodes,
  deletePendingAuthorizationCodesOfClient,
  deletePendingAuthorizationCodesOfSignin,
} from './authorization-code.store.js'
import { enqueueBackchannelLogouts } from './backchannel-logout.store.js'
import {
  denyUncollectedDeviceAuthorizations,
  denyUncollectedDeviceAuthorizationsOfClient,
} from './device-authorization.store.js'
import {
  revokeSession,
  revokeSessionsOfClient,
  revokeSessionsOfSignin,
  revokeSessionsOfUser,
  revokeSessionsOfUserAndClient,
} from './session.store.js'
import { revokeSigninSession, revokeSigninSessionsOfUser } from './signin-session.store.js'

/** Why a user's access ends. Each reason ends exactly what its row in `policies` says. */
export type AccessEndReason =
  | 'password_changed'
  | 'password_reset'
  | 'logout_all'
  | 'user_disabled'
  | 'user_deleted'
  | 'consent_withdrawn'
  | 'mfa_reset'

interface EndPolicy {
  /** Which sessions (refresh-token families, listed in the revocation feed by sid) end. */
  sessions: 'all' | 'all_but_current' | 'of_client'
  /** Hosted sign-ins (the browser's sign-in at Latchkey's pages) end, so no app gets a new code from them. */
  signins: boolean
  /**
   * Authorization codes already issued but not yet exchanged stop working (they would open new
   * sessions), and so do device sign-ins the user approved that no device has collected (RFC 8628).
   */
  pendingCodes: 'all' | 'of_client'
  /** Pending password-reset links stop working (a link mailed earlier must not undo what happened). */
  resetLinks: boolean
  /** Pending email-verification links stop working. */
  verificationLinks: boolean
  /** Every access token of the user issued before now is refused (a per-user cut-off in the feed). */
  cutOff: boolean
  /** The notice mailed to the owner, if any. */
  notice: 'password_changed' | null
}

// ASVS 7.4.1/7.4.3/7.4.5 and RFC 9700 §4.14.2: what each event must end. A password change keeps
// the session that made it (and so its access tokens: a cut-off would end those too); every
// other session, sign-in and link made before it ends.
const policies: Record<AccessEndReason, EndPolicy> = {
  password_changed: {
    sessions: 'all_but_current',
    signins: true,
    pendingCodes: 'all',
    resetLinks: true,
    verificationLinks: false,
    cutOff: false,
    notice: 'password_changed',
  },
  password_reset: {
    sessions: 'all',
    signins: true,
    pendingCodes: 'all',
    resetLinks: true,
    verificationLinks: false,
    cutOff: true,
    notice: 'password_changed',
  },
  logout_all: {
    sessions: 'all',
    signins: true,
    pendingCodes: 'all',
    resetLinks: false,
    verificationLinks: false,
    cutOff: true,
    notice: null,
  },
  user_disabled: {
    sessions: 'all',
    signins: true,
    pendingCodes: 'all',
    resetLinks: true,
    verificationLinks: true,
    cutOff: true,
    notice: null,
  },
  // An operator removed the second factors (a lost device, or a takeover): whoever is signed in may
  // have got there through them, so every session, sign-in and code ends; the password and the
  // links mailed to the owner stay theirs. The "factor removed" notice is queued with the removal.
  mfa_reset: {
    sessions: 'all',
    signins: true,
    pendingCodes: 'all',
    resetLinks: false,
    verificationLinks: false,
    cutOff: true,
    notice: null,
  },
  // Erasure (GDPR art. 17): as disabling, and the account can never come back.
  user_deleted: {
    sessions: 'all',
    signins: true,
    pendingCodes: 'all',
    resetLinks: true,
    verificationLinks: true,
    cutOff: true,
    notice: null,
  },
  consent_withdrawn: {
    sessions: 'of_client',
    signins: false,
    pendingCodes: 'of_client',
    resetLinks: false,
    verificationLinks: false,
    cutOff: false,
    notice: null,
  },
}

export interface EndAccessScope {
  now: number
  /** The session that asked (password change): it stays. */
  currentSessionId?: string
  /** The app whose consent was withdrawn. */
  clientId?: string
}

/**
 * The one place that ends a user's access. Runs inside the caller's transaction, so what ends
 * commits together with its cause (the new password, the disabled flag, the deleted consent).
 * Returns the ids of the sessions it ended.
 */
export async function endUserAccess(
  trx: Transaction<Database>,
  userId: string,
  reason: AccessEndReason,
  scope: EndAccessScope,
): Promise<string[]> {
  const policy = policies[reason]
  const { now } = scope
  if (policy.cutOff) await cutOffUserTokens(trx, userId, now)
  if (policy.signins) await revokeSigninSessionsOfUser(trx, userId, now)
  const codesOf = policy.pendingCodes === 'all' ? null : clientOf(reason, scope)
  await deletePendingAuthorizationCodes(trx, userId, codesOf)
  await denyUncollectedDeviceAuthorizations(trx, userId, codesOf)
  if (policy.resetLinks) await deleteAccountTokensOfUser(trx, 'password_reset_tokens', userId)
  if (policy.verificationLinks) await deleteAccountTokensOfUser(trx, 'email_verification_tokens', userId)
  if (policy.notice !== null) await enqueueMail(trx, { template: policy.notice, userId }, now)
  const ended = await endSessionsByPolicy(trx, userId, reason, policy, scope)
  // OIDC Back-Channel Logout 1.0 §2.7: every app whose session ended is told, whatever the cause.
  await enqueueBackchannelLogouts(trx, ended, now)
  return ended
}

function endSessionsByPolicy(
  trx: Transaction<Database>,
  userId: string,
  reason: AccessEndReason,
  policy: EndPolicy,
  scope: EndAccessScope,
): Promise<string[]> {
  const { now } = scope
  switch (policy.sessions) {
    case 'all':
      return revokeSessionsOfUser(trx, userId, reason, now)
    case 'all_but_current':
      if (scope.currentSessionId === undefined) throw new Error(`${reason} needs the current session`)
      return revokeSessionsOfUser(trx, userId, reason, now, scope.currentSessionId)
    case 'of_client':
      return revokeSessionsOfUserAndClient(trx, userId, clientOf(reason, scope), reason, now)
  }
}

/** Why one session ends on its own (not as part of a user's access ending). */
export type SessionEndReason =
  'logout' | 'user_revoked' | 'admin_revoked' | 'revoked_by_client' | 'code_replay' | 'refresh_reuse' | 'rp_logout'

/**
 * Ends one session (refresh-token family) and tells its app through back-channel logout, in one
 * transaction (the caller's, or its own). True if the session was live.
 */
export async function endSession(
  db: Kysely<Database> | Transaction<Database>,
  sessionId: string,
  reason: SessionEndReason,
  now: number,
): Promise<boolean> {
  const end = async (trx: Kysely<Database> | Transaction<Database>) => {
    if (!(await revokeSession(trx, sessionId, reason, now))) return false
    await enqueueBackchannelLogouts(trx, [sessionId], now)
    return true
  }
  return db.isTransaction ? end(db) : db.transaction().execute(end)
}

/**
 * OpenID Connect RP-Initiated Logout 1.0: a hosted sign-in ends, with the codes it issued that no
 * app has exchanged and the sessions it opened for apps (each app told through back-channel
 * logout). The user's other sign-ins and sessions stay. Returns the ids of the sessions it ended.
 */
export async function endSigninAndItsSessions(
  trx: Transaction<Database>,
  signinSessionId: string,
  now: number,
): Promise<string[]> {
  await revokeSigninSession(trx, signinSessionId, now)
  await deletePendingAuthorizationCodesOfSignin(trx, signinSessionId)
  const ended = await revokeSessionsOfSignin(trx, signinSessionId, 'rp_logout', now)
  await enqueueBackchannelLogouts(trx, ended, now)
  return ended
}

function clientOf(reason: AccessEndReason, scope: EndAccessScope): string {
  if (scope.clientId === undefined) throw new Error(`${reason} needs the client`)
  return scope.clientId
}

/**
 * A client is deleted, or its secret or keys are ended at once (revoke_old: whoever holds the old
 * credentials may hold its refresh tokens too): every user's sessions with it, every code it was
 * issued but has not exchanged and every device sign-in it has not collected end, in the caller's
 * transaction (which also records the client's cut-off for its own tokens). Returns the ids of the
 * sessions it ended.
 */
export async function endClientAccess(
  trx: Transaction<Database>,
  clientId: string,
  now: number,
  reason: 'client_deleted' | 'client_secret_revoked' | 'client_keys_revoked',
): Promise<string[]> {
  await deletePendingAuthorizationCodesOfClient(trx, clientId)
  await denyUncollectedDeviceAuthorizationsOfClient(trx, clientId)
  const ended = await revokeSessionsOfClient(trx, clientId, reason, now)
  // A deleted client is gone, so nothing is queued for it; a client whose secret was revoked
  // hears of its users' ended sessions (OIDC Back-Channel Logout) like any other logout.
  await enqueueBackchannelLogouts(trx, ended, now)
  return ended
}
