import { randomBytes } from 'node:crypto'
import type { Deps } from '../deps.js'
import type { User } from '../users/user.js'
import { assertSigninStillValid, type SigninProof } from '../users/signin-proof.js'
import { issueFirstRefreshToken } from './rotate-refresh-token.js'
import type { Session } from './session.js'
import { insertSession } from './session.store.js'

export interface SessionStart {
  clientId: string
  scopes: string[]
  audience: string
  amr: string[]
  ip: string | null
  userAgent: string | null
  /** When the user authenticated, if earlier than now (a code exchanged after a hosted sign-in). */
  authTime?: number
  /** The session id, when the caller must record it before the session exists (a code's exchange). */
  id?: string
  /** The hosted sign-in whose code opens it (OIDC RP-initiated logout ends them together). */
  signinSessionId?: string | null
  /** The password check behind this session, when it was one (see signin-proof.ts). */
  password?: SigninProof['password']
}

/**
 * A new session (refresh-token family) for a user who just authenticated, with its first refresh
 * token. The user is read again in the same transaction: a sign-in that a password change, reset
 * or cut-off overtook while it was being checked never becomes a session (SigninSuperseded).
 */
export async function startSession(
  deps: Pick<Deps, 'db' | 'clock' | 'config'>,
  user: User,
  start: SessionStart,
): Promise<{ session: Session; refreshToken: string }> {
  const now = deps.clock.now()
  const session: Session = {
    id: start.id ?? randomBytes(16).toString('base64url'),
    userId: user.id,
    clientId: start.clientId,
    scopes: start.scopes,
    audience: start.audience,
    amr: start.amr,
    authTime: start.authTime ?? now,
    createdAt: now,
    lastUsedAt: now,
    expiresAt: now + deps.config.refreshTokenTtlMs,
    revokedAt: null,
    ip: start.ip,
    userAgent: start.userAgent === null ? null : start.userAgent.slice(0, 300),
    signinSessionId: start.signinSessionId ?? null,
  }
  const refreshToken = await deps.db.transaction().execute(async (trx) => {
    await assertSigninStillValid(trx, deps.config, {
      userId: user.id,
      authTime: session.authTime,
      ...(start.password === undefined ? {} : { password: start.password }),
    })
    await insertSession(trx, {
      id: session.id,
      user_id: user.id,
      client_id: session.clientId,
      scope: session.scopes.join(' '),
      audience: session.audience,
      amr: JSON.stringify(session.amr),
      auth_time: session.authTime,
      created_at: now,
      last_used_at: now,
      expires_at: session.expiresAt,
      revoked_at: null,
      revoked_reason: null,
      ip: session.ip,
      user_agent: session.userAgent,
      signin_session_id: session.signinSessionId,
    })
    return issueFirstRefreshToken(trx, deps.config, session, now)
  })
  return { session, refreshToken }
}
