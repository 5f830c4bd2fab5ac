import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import { compiledOnce } from '../db/compiled-once.js'
import { sessionFromRow, type Session } from './session.js'
import type { RefreshTokenRow } from './session.table.js'

type Executor = Kysely<Database> | Transaction<Database>

export interface RefreshTokenWithSession {
  token: RefreshTokenRow
  session: Session
}

// Every rotation runs this: compiled once (issue 15).
const insertRefreshTokenQuery = compiledOnce(
  (db, id: string, sessionId: string, tokenHash: string, createdAt: number, idleExpiresAt: number) =>
    db.insertInto('refresh_tokens').values({
      id,
      session_id: sessionId,
      token_hash: tokenHash,
      created_at: createdAt,
      idle_expires_at: idleExpiresAt,
      used_at: null,
      successor_id: null,
      successor_encrypted: null,
      grace_until: null,
    }),
)

export async function insertRefreshToken(
  db: Executor,
  row: { id: string; session_id: string; token_hash: string; created_at: number; idle_expires_at: number },
): Promise<void> {
  await insertRefreshTokenQuery(db, row.id, row.session_id, row.token_hash, row.created_at, row.idle_expires_at)
}

export async function findRefreshTokenByHash(db: Executor, tokenHash: string): Promise<RefreshTokenWithSession | null> {
  // One query on the rotation hot path: the token and its family together.
  const row = await db
    .selectFrom('refresh_tokens as t')
    .innerJoin('sessions as s', 's.id', 't.session_id')
    .select([
      't.id as t_id',
      't.session_id as t_session_id',
      't.token_hash as t_token_hash',
      't.created_at as t_created_at',
      't.idle_expires_at as t_idle_expires_at',
      't.used_at as t_used_at',
      't.successor_id as t_successor_id',
      't.successor_encrypted as t_successor_encrypted',
      't.grace_until as t_grace_until',
      's.id',
      's.user_id',
      's.client_id',
      's.scope',
      's.audience',
      's.amr',
      's.auth_time',
      's.created_at',
      's.last_used_at',
      's.expires_at',
      's.revoked_at',
      's.revoked_reason',
      's.ip',
      's.user_agent',
      's.dpop_jkt',
      's.signin_session_id',
      's.refresh_key',
    ])
    .where('t.token_hash', '=', tokenHash)
    .executeTakeFirst()
  if (!row) return null
  const {
    t_id,
    t_session_id,
    t_token_hash,
    t_created_at,
    t_idle_expires_at,
    t_used_at,
    t_successor_id,
    t_successor_encrypted,
    t_grace_until,
    ...session
  } = row
  return {
    token: {
      id: t_id,
      session_id: t_session_id,
      token_hash: t_token_hash,
      created_at: t_created_at,
      idle_expires_at: t_idle_expires_at,
      used_at: t_used_at,
      successor_id: t_successor_id,
      successor_encrypted: t_successor_encrypted,
      grace_until: t_grace_until,
    },
    session: sessionFromRow(session),
  }
}

// Every rotation opens with this: compiled once (issue 15).
const claimQuery = compiledOnce(
  (
    db,
    tokenHash: string,
    usedAt: number,
    successorId: string,
    successorEncrypted: string | null,
    graceUntil: number | null,
  ) =>
    db
      .updateTable('refresh_tokens')
      .set({
        used_at: usedAt,
        successor_id: successorId,
        successor_encrypted: successorEncrypted,
        grace_until: graceUntil,
      })
      .where('token_hash', '=', tokenHash)
      .where('used_at', 'is', null)
      .where('idle_expires_at', '>', usedAt)
      .returning('session_id'),
)

/**
 * Marks an unused, not idle-expired refresh token used and records its successor, in one
 * statement that opens the rotation with a write: on SQLite it takes the write lock at once (a read
 * first could fail with SQLITE_BUSY when another process writes in between), on PostgreSQL it
 * row-locks the token, and a concurrent loser re-checks `used_at is null` after the winner commits.
 * Of any number of concurrent rotations exactly one gets the session id back.
 */
export async function claimRefreshToken(
  db: Executor,
  tokenHash: string,
  claim: { usedAt: number; successorId: string; successorEncrypted: string | null; graceUntil: number | null },
): Promise<{ sessionId: string } | null> {
  const { rows } = await claimQuery(
    db,
    tokenHash,
    claim.usedAt,
    claim.successorId,
    claim.successorEncrypted,
    claim.graceUntil,
  )
  return rows[0] ? { sessionId: rows[0].session_id } : null
}

/** Grace-window successors are only kept while the window is open. */
export async function eraseExpiredSuccessors(db: Executor, now: number): Promise<void> {
  await db
    .updateTable('refresh_tokens')
    .set({ successor_encrypted: null })
    .where('grace_until', '<=', now)
    .where('successor_encrypted', 'is not', null)
    .execute()
}

/**
 * Refresh tokens past their idle expiry, used or not, one batch. Such a token can no longer be
 * exchanged; a deleted token of a live family is still recognised by its tag (refresh-token-format.ts)
 * and revokes the family when presented again.
 */
export async function deleteRefreshTokensIdleBefore(db: Executor, before: number, limit: number): Promise<number> {
  const batch = db.selectFrom('refresh_tokens').select('id').where('idle_expires_at', '<', before).limit(limit)
  const result = await db.deleteFrom('refresh_tokens').where('id', 'in', batch).executeTakeFirst()
  return Number(result.numDeletedRows)
}

// Every rotation runs this: compiled once (issue 15).
const deleteUsedBeyondQuery = compiledOnce((db, sessionId: string, presentedHash: string, keep: number) =>
  db
    .deleteFrom('refresh_tokens')
    .where('session_id', '=', sessionId)
    .where('used_at', 'is not', null)
    .where('token_hash', '!=', presentedHash)
    .where(
      'id',
      'not in',
      db
        .selectFrom('refresh_tokens')
        .select('id')
        .where('session_id', '=', sessionId)
        .where('used_at', 'is not', null)
        .where('token_hash', '!=', presentedHash)
        .orderBy('used_at', 'desc')
        .orderBy('created_at', 'desc')
        .limit(keep),
    ),
)

/**
 * Keeps a session's `keep` most recently used refresh tokens (besides the one just presented) and
 * deletes its older used ones. Returns how many went.
 */
export async function deleteUsedRefreshTokensBeyond(
  db: Executor,
  sessionId: string,
  presentedHash: string,
  keep: number,
): Promise<number> {
  const result = await deleteUsedBeyondQuery(db, sessionId, presentedHash, keep)
  return Number(result.numAffectedRows ?? 0)
}
