import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Keystore } from '../../keys/keystore.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Transaction } from 'kysely'
import type { Database, Db } from '../db/database.js'
import type { Metrics } from '../metrics/metrics.js'
import { InvalidGrant } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { generateOpaqueToken, hashOpaqueToken } from '../opaque-token.js'
import {
  claimRefreshToken,
  deleteUsedRefreshTokensBeyond,
  findRefreshTokenByHash,
  insertRefreshToken,
} from './refresh-token.store.js'
import type { Session } from './session.js'
import { findSessionById, findSessionRefreshKey, setSessionRefreshKey, touchSession } from './session.store.js'
import {
  generateFamilyRefreshToken,
  generateRefreshKey,
  isFamilyRefreshToken,
  sessionIdNamedBy,
} from './refresh-token-format.js'
import { endSession } from './end-user-access.js'

export interface RotationDeps {
  db: Db
  clock: Clock
  keystore: Keystore
  log: Logger
  config: Pick<Config, 'refreshTokenIdleTtlMs' | 'refreshReuseGraceMs'>
  metrics: Pick<Metrics, 'refreshes'>
}

export interface RotatedRefreshToken {
  refreshToken: string
  session: Session
}

type Outcome =
  | { kind: 'rotated'; refreshToken: string; session: Session; replay: boolean }
  | { kind: 'invalid'; reason: string }
  | { kind: 'reused'; session: Session }

const LAST_USED_RESOLUTION_MS = 60_000

/**
 * Used refresh tokens kept per session besides the one just exchanged (issue 11, L2); without a
 * bound a session looping refreshes grew refresh_tokens by one row per refresh until the idle
 * expiry. A replay of a kept one is found by its hash (and may get the grace-window successor); an
 * older one is no longer stored but still names its session and carries the family's tag
 * (refresh-token-format.ts), so it revokes the family too. Only sessions started before that
 * format existed (no refresh_key) lose detection for tokens pruned beyond this bound.
 */
export const KEPT_USED_REFRESH_TOKENS = 8

/** Thrown inside the rotation transaction to undo a claim, carrying why. */
class RollBack extends Error {
  constructor(readonly reason: string) {
    super(reason)
  }
}

/** Why a session's refresh token cannot rotate for this client now, or null if it can. */
function refusalFor(session: Session, clientId: string, now: number): string | null {
  if (session.clientId !== clientId) return 'refresh token was issued to another client'
  if (session.revokedAt !== null) return 'refresh token has been revoked'
  if (session.expiresAt <= now) return 'refresh token has expired'
  return null
}

// Bound to the token it succeeds, so a sealed successor copied onto another row does not open.
const sealBinding = (presentedHash: string) => ({ purpose: 'refresh-successor', rt: presentedHash })

/** A session's first refresh token, created in the transaction that creates the session. */
export async function issueFirstRefreshToken(
  trx: Transaction<Database>,
  config: Pick<RotationDeps['config'], 'refreshTokenIdleTtlMs'>,
  session: Session,
  now: number,
): Promise<string> {
  const key = generateRefreshKey()
  await setSessionRefreshKey(trx, session.id, key)
  const token = generateFamilyRefreshToken(session.id, key)
  await insertRefreshToken(trx, {
    id: randomUUID(),
    session_id: session.id,
    token_hash: hashOpaqueToken(token),
    created_at: now,
    idle_expires_at: Math.min(now + config.refreshTokenIdleTtlMs, session.expiresAt),
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
export async function rotateRefreshToken(
  deps: RotationDeps,
  presented: string,
  clientId: string,
  meta: { ip: string | null },
): Promise<RotatedRefreshToken> {
  const now = deps.clock.now()
  const grace = deps.config.refreshReuseGraceMs
  const presentedHash = hashOpaqueToken(presented)
  // Everything asynchronous beyond the database happens before the transaction: on SQLite a
  // transaction holds the only connection, so an await on the thread pool inside it would
  // serialise every rotation behind it.
  // A token naming its session gets a successor of the same family; one from before the format
  // (or naming no session with a key) keeps the old random format.
  const namedSessionId = sessionIdNamedBy(presented)
  const familyKey = namedSessionId === null ? null : await findSessionRefreshKey(deps.db, namedSessionId)
  const successor =
    namedSessionId !== null && familyKey !== null
      ? generateFamilyRefreshToken(namedSessionId, familyKey)
      : generateOpaqueToken()
  const successorId = randomUUID()
  const sealedSuccessor = grace > 0 ? await deps.keystore.seal(sealBinding(presentedHash), successor) : null
  let outcome: Outcome
  try {
    outcome = await deps.db.transaction().execute(async (trx): Promise<Outcome> => {
      const claimed = await claimRefreshToken(trx, presentedHash, {
        usedAt: now,
        successorId,
        successorEncrypted: sealedSuccessor,
        graceUntil: grace > 0 ? now + grace : null,
      })
      if (claimed) {
        const session = await findSessionById(trx, claimed.sessionId)
        // The claim must not stand for a session that cannot rotate: roll it back.
        const refusal = session === null ? 'refresh token is invalid' : refusalFor(session, clientId, now)
        if (refusal !== null) throw new RollBack(refusal)
        await insertRefreshToken(trx, {
          id: successorId,
          session_id: session!.id,
          token_hash: hashOpaqueToken(successor),
          created_at: now,
          idle_expires_at: Math.min(now + deps.config.refreshTokenIdleTtlMs, session!.expiresAt),
        })
        await deleteUsedRefreshTokensBeyond(trx, session!.id, presentedHash, KEPT_USED_REFRESH_TOKENS)
        // "Last used" to the minute: most rotations then write no session page at all.
        if (now - session!.lastUsedAt >= LAST_USED_RESOLUTION_MS) await touchSession(trx, session!.id, now)
        return { kind: 'rotated', refreshToken: successor, session: session!, replay: false }
      }

      // Unknown, idle-expired, or already used (by an earlier request, or a concurrent one that won).
      const found = await findRefreshTokenByHash(trx, presentedHash)
      if (!found) {
        // Not stored (pruned after use, or deleted past its idle expiry) but made by us for this
        // family: a replay of an old token, so reuse. Anything else is merely invalid.
        if (
          namedSessionId === null ||
          familyKey === null ||
          !isFamilyRefreshToken(presented, namedSessionId, familyKey)
        )
          return { kind: 'invalid', reason: 'refresh token is invalid' }
        const named = await findSessionById(trx, namedSessionId)
        if (named === null || refusalFor(named, clientId, now) !== null)
          return { kind: 'invalid', reason: 'refresh token is invalid' }
        await endSession(trx, named.id, 'refresh_reuse', now)
        return { kind: 'reused', session: named }
      }
      const { session } = found
      const refusal = refusalFor(session, clientId, now)
      if (refusal !== null) return { kind: 'invalid', reason: refusal }
      if (found.token.used_at === null) return { kind: 'invalid', reason: 'refresh token has expired' }
      if (found.token.grace_until != null && now < found.token.grace_until && found.token.successor_encrypted) {
        const earlier = await deps.keystore.open(sealBinding(presentedHash), found.token.successor_encrypted)
        if (earlier !== null) return { kind: 'rotated', refreshToken: earlier, session, replay: true }
      }
      await endSession(trx, session.id, 'refresh_reuse', now)
      return { kind: 'reused', session }
    })
  } catch (error) {
    if (!(error instanceof RollBack)) throw error
    outcome = { kind: 'invalid', reason: error.reason }
  }

  deps.metrics.refreshes.inc({
    outcome:
      outcome.kind === 'rotated'
        ? outcome.replay
          ? 'grace_replay'
          : 'rotated'
        : outcome.kind === 'reused'
          ? 'reuse_detected'
          : 'invalid',
  })
  if (outcome.kind === 'rotated') return { refreshToken: outcome.refreshToken, session: outcome.session }
  if (outcome.kind === 'reused') {
    // Committed above: the family stays revoked although this request fails.
    await recordAuditEvent(deps, {
      event: 'refresh.reused',
      userId: outcome.session.userId,
      clientId,
      sessionId: outcome.session.id,
      ip: meta.ip,
    })
    throw new InvalidGrant('refresh token was already used; the session has been revoked')
  }
  throw new InvalidGrant(outcome.reason)
}
