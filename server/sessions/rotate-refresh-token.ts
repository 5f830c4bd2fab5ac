import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Keystore } from '../../keys/keystore.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Db } from '../db/database.js'
import { InvalidGrant } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { generateOpaqueToken, hashOpaqueToken } from './opaque-token.js'
import { claimRefreshToken, findRefreshTokenById, findRefreshTokenByHash, insertRefreshToken, lockRefreshToken } from './refresh-token.store.js'
import { sessionFromRow, type Session } from './session.js'
import { revokeSession, touchSession } from './session.store.js'

export interface RotationDeps {
  db: Db
  clock: Clock
  keystore: Keystore
  log: Logger
  config: Pick<Config, 'refreshTokenIdleTtlMs' | 'refreshReuseGraceMs'>
}

export interface RotatedRefreshToken {
  refreshToken: string
  session: Session
}

type Outcome =
  | { kind: 'rotated'; refreshToken: string; session: Session }
  | { kind: 'invalid'; reason: string }
  | { kind: 'reused'; session: Session }

// Bound to the token it succeeds, so a sealed successor copied onto another row does not open.
const sealBinding = (presentedHash: string) => ({ purpose: 'refresh-successor', rt: presentedHash })

/** A session's first refresh token, created with it at login. */
export async function issueFirstRefreshToken(deps: Pick<RotationDeps, 'db' | 'config'>, session: Session, now: number): Promise<string> {
  const token = generateOpaqueToken()
  await insertRefreshToken(deps.db, {
    id: randomUUID(),
    session_id: session.id,
    token_hash: hashOpaqueToken(token),
    created_at: now,
    idle_expires_at: Math.min(now + deps.config.refreshTokenIdleTtlMs, session.expiresAt),
  })
  return token
}

/**
 * Exchanges a refresh token for its successor (RFC 9700 §4.14.2), in one transaction whose
 * conditional update lets exactly one concurrent request win. A token presented again:
 * - within LATCHKEY_REFRESH_REUSE_GRACE, by the same client → the same successor (parallel tabs,
 *   retried requests), so no second live successor ever exists;
 * - otherwise → the whole family (the session) is revoked and the event is logged.
 */
export async function rotateRefreshToken(deps: RotationDeps, presented: string, clientId: string, meta: { ip: string | null }): Promise<RotatedRefreshToken> {
  const now = deps.clock.now()
  const grace = deps.config.refreshReuseGraceMs
  const presentedHash = hashOpaqueToken(presented)
  // Everything asynchronous beyond the database happens before the transaction: on SQLite a
  // transaction holds the only connection, so an await on the thread pool inside it would
  // serialise every rotation behind it.
  const successor = generateOpaqueToken()
  const successorId = randomUUID()
  const sealedSuccessor = grace > 0 ? await deps.keystore.seal(sealBinding(presentedHash), successor) : null
  const outcome = await deps.db.transaction().execute(async (trx): Promise<Outcome> => {
    await lockRefreshToken(trx, presentedHash)
    const found = await findRefreshTokenByHash(trx, presentedHash)
    if (!found) return { kind: 'invalid', reason: 'refresh token is invalid' }
    const session = sessionFromRow(found.session)
    if (session.clientId !== clientId) return { kind: 'invalid', reason: 'refresh token was issued to another client' }
    if (session.revokedAt !== null) return { kind: 'invalid', reason: 'refresh token has been revoked' }
    if (session.expiresAt <= now) return { kind: 'invalid', reason: 'refresh token has expired' }

    if (found.token.used_at === null) {
      if (found.token.idle_expires_at <= now) return { kind: 'invalid', reason: 'refresh token has expired' }
      const claimed = await claimRefreshToken(trx, found.token.id, {
        usedAt: now,
        successorId,
        successorEncrypted: sealedSuccessor,
        graceUntil: grace > 0 ? now + grace : null,
      })
      if (claimed) {
        await insertRefreshToken(trx, {
          id: successorId,
          session_id: session.id,
          token_hash: hashOpaqueToken(successor),
          created_at: now,
          idle_expires_at: Math.min(now + deps.config.refreshTokenIdleTtlMs, session.expiresAt),
        })
        await touchSession(trx, session.id, now)
        return { kind: 'rotated', refreshToken: successor, session }
      }
    }

    // Already used (by an earlier request, or by a concurrent one that just won the claim).
    const used = await findRefreshTokenById(trx, found.token.id)
    if (used?.grace_until != null && now < used.grace_until && used.successor_encrypted) {
      const earlier = await deps.keystore.open(sealBinding(presentedHash), used.successor_encrypted)
      if (earlier !== null) return { kind: 'rotated', refreshToken: earlier, session }
    }
    await revokeSession(trx, session.id, 'refresh_reuse', now)
    return { kind: 'reused', session }
  })

  if (outcome.kind === 'rotated') return { refreshToken: outcome.refreshToken, session: outcome.session }
  if (outcome.kind === 'reused') {
    // Committed above: the family stays revoked although this request fails.
    await recordAuditEvent(deps, { event: 'refresh.reused', userId: outcome.session.userId, clientId, sessionId: outcome.session.id, ip: meta.ip })
    throw new InvalidGrant('refresh token was already used; the session has been revoked')
  }
  throw new InvalidGrant(outcome.reason)
}
