import { randomBytes } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Deps } from '../deps.js'
import { generateOpaqueToken, hashOpaqueToken } from '../opaque-token.js'
import type { User } from '../users/user.js'
import { assertSigninStillValid, type SigninProof } from '../users/signin-proof.js'
import { findUserById } from '../users/user.store.js'
import { clearSigninCookie, readSigninCookie, setSigninCookie } from './signin-cookie.js'
import {
  extendSigninSession,
  findSigninSessionByHash,
  insertSigninSession,
  revokeSigninSession,
} from '../sessions/signin-session.store.js'

export interface Signin {
  id: string
  user: User
  amr: string[]
  authTime: number
}

/**
 * Opens a hosted sign-in for a user who just proved their password, replacing this browser's
 * previous one (a fresh value each time: no session fixation). Like a first-party session it
 * ends after LATCHKEY_REFRESH_TOKEN_IDLE_TTL without use and LATCHKEY_REFRESH_TOKEN_TTL at most.
 */
export async function startSignin(
  deps: Pick<Deps, 'db' | 'clock' | 'config'>,
  request: FastifyRequest,
  reply: FastifyReply,
  user: User,
  proof: { amr: string[]; authTime: number; password?: SigninProof['password'] },
): Promise<Signin> {
  const now = deps.clock.now()
  const previous = readSigninCookie(request)
  if (previous !== null) {
    const row = await findSigninSessionByHash(deps.db, hashOpaqueToken(previous))
    if (row) await revokeSigninSession(deps.db, row.id, now)
  }
  const token = generateOpaqueToken()
  const id = randomBytes(16).toString('base64url')
  const { amr, authTime } = proof
  // A sign-in that a password change, reset or cut-off overtook while it was checked never starts (H1).
  await deps.db.transaction().execute(async (trx) => {
    await assertSigninStillValid(trx, deps.config, { userId: user.id, authTime, password: proof.password })
    await insertSigninSession(trx, {
      id,
      userId: user.id,
      tokenHash: hashOpaqueToken(token),
      amr,
      authTime,
      createdAt: now,
      expiresAt: idleExpiry(deps.config, now, now),
    })
  })
  setSigninCookie(reply, token, deps.config.refreshTokenTtlMs)
  return { id, user, amr, authTime }
}

/** The expiry after use at `now`: the idle timeout from now, never past the absolute lifetime. */
function idleExpiry(
  config: Pick<Deps['config'], 'refreshTokenTtlMs' | 'refreshTokenIdleTtlMs'>,
  createdAt: number,
  now: number,
): number {
  return Math.min(createdAt + config.refreshTokenTtlMs, now + config.refreshTokenIdleTtlMs)
}

/** Bumping the expiry costs a write; one a minute per sign-in is enough. */
const EXTEND_STEP_MS = 60_000

/**
 * The signed-in user of this browser, or null. A sign-in ends with its user's access: disabling
 * the account, a password reset and logout-all move `tokens_valid_after` past it; a signed-in
 * password change revokes the user's sign-ins directly (it keeps the current session's tokens).
 * Each use moves its idle expiry forward.
 */
export async function currentSignin(
  deps: Pick<Deps, 'db' | 'clock' | 'config'>,
  request: FastifyRequest,
): Promise<Signin | null> {
  const token = readSigninCookie(request)
  if (token === null) return null
  const row = await findSigninSessionByHash(deps.db, hashOpaqueToken(token))
  const now = deps.clock.now()
  if (!row || row.revokedAt !== null || row.expiresAt <= now) return null
  const user = await findUserById(deps.db, row.userId)
  // auth_time, not created_at: a sign-in whose password check began before the cut-off is void even
  // if its row was written after it (finding H1).
  if (!user || user.disabled || row.authTime < user.tokensValidAfter || row.authTime < user.credentialsChangedAt)
    return null
  const expiresAt = idleExpiry(deps.config, row.createdAt, now)
  if (expiresAt - row.expiresAt >= EXTEND_STEP_MS) await extendSigninSession(deps.db, row.id, expiresAt)
  return { id: row.id, user, amr: row.amr, authTime: row.authTime }
}

/** Ends this browser's hosted sign-in (idempotent). */
export async function endSignin(
  deps: Pick<Deps, 'db' | 'clock'>,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const token = readSigninCookie(request)
  if (token !== null) {
    const row = await findSigninSessionByHash(deps.db, hashOpaqueToken(token))
    if (row) await revokeSigninSession(deps.db, row.id, deps.clock.now())
  }
  clearSigninCookie(reply)
}
