import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import type { AuthorizationCodeRow } from './authorization-code.table.js'
import { compiledOnce } from '../db/compiled-once.js'

type Executor = Kysely<Database> | Transaction<Database>

/** What a code stands for: one user's consent to one client, at one redirect URI, under one PKCE challenge. */
export interface AuthorizationCode {
  clientId: string
  userId: string
  redirectUri: string
  scopes: string[]
  audience: string
  codeChallenge: string
  nonce: string | null
  amr: string[]
  authTime: number
  /** The browser that signed in (shown with the session the code opens). */
  ip: string | null
  userAgent: string | null
  createdAt: number
  expiresAt: number
  /** The hosted sign-in that issued it (null for codes issued before it was recorded). */
  signinSessionId: string | null
  /** RFC 9449 §10: the DPoP key (RFC 7638 thumbprint) the exchange must prove; null when not asked for. */
  dpopJkt: string | null
}

function codeFromRow(row: AuthorizationCodeRow): AuthorizationCode {
  return {
    clientId: row.client_id,
    userId: row.user_id,
    redirectUri: row.redirect_uri,
    scopes: row.scope === '' ? [] : row.scope.split(' '),
    audience: row.audience,
    codeChallenge: row.code_challenge,
    nonce: row.nonce,
    amr: JSON.parse(row.amr) as string[],
    authTime: row.auth_time,
    ip: row.ip,
    userAgent: row.user_agent,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    signinSessionId: row.signin_session_id,
    dpopJkt: row.dpop_jkt,
  }
}

// Each authorization-code round trip runs the insert, the claim and the replay check: compiled
// once (issue 15).
const insertQuery = compiledOnce(
  (
    db,
    codeHash: string,
    clientId: string,
    userId: string,
    redirectUri: string,
    scope: string,
    audience: string,
    codeChallenge: string,
    nonce: string | null,
    amr: string,
    authTime: number,
    ip: string | null,
    userAgent: string | null,
    createdAt: number,
    expiresAt: number,
    signinSessionId: string | null,
    dpopJkt: string | null,
  ) =>
    db.insertInto('authorization_codes').values({
      code_hash: codeHash,
      client_id: clientId,
      user_id: userId,
      redirect_uri: redirectUri,
      scope,
      audience,
      code_challenge: codeChallenge,
      nonce,
      amr,
      auth_time: authTime,
      ip,
      user_agent: userAgent,
      created_at: createdAt,
      expires_at: expiresAt,
      used_at: null,
      session_id: null,
      replayed_at: null,
      signin_session_id: signinSessionId,
      dpop_jkt: dpopJkt,
    }),
)

export async function insertAuthorizationCode(db: Executor, codeHash: string, code: AuthorizationCode): Promise<void> {
  await insertQuery(
    db,
    codeHash,
    code.clientId,
    code.userId,
    code.redirectUri,
    code.scopes.join(' '),
    code.audience,
    code.codeChallenge,
    code.nonce,
    JSON.stringify(code.amr),
    code.authTime,
    code.ip,
    code.userAgent,
    code.createdAt,
    code.expiresAt,
    code.signinSessionId,
    code.dpopJkt,
  )
}

const claimQuery = compiledOnce((db, codeHash: string, now: number, sessionId: string, clientId: string) =>
  db
    .updateTable('authorization_codes')
    .set({ used_at: now, session_id: sessionId })
    .where('code_hash', '=', codeHash)
    .where('used_at', 'is', null)
    .where('client_id', '=', clientId)
    .returningAll(),
)

const replayedQuery = compiledOnce((db, codeHash: string) =>
  db.selectFrom('authorization_codes').select('replayed_at').where('code_hash', '=', codeHash),
)

/**
 * Marks a code used, with the id of the session its exchange is about to open, if nobody did so
 * first and the exchange comes from the client the code was issued to (finding L1: a leaked code
 * presented by another client stays usable for its own). Returns it; null when it was already
 * used, does not exist or belongs to another client. Of any number of concurrent exchanges
 * exactly one gets the row.
 */
export async function claimAuthorizationCode(
  db: Executor,
  codeHash: string,
  claim: { now: number; sessionId: string; clientId: string },
): Promise<AuthorizationCode | null> {
  const { rows } = await claimQuery(db, codeHash, claim.now, claim.sessionId, claim.clientId)
  return rows[0] ? codeFromRow(rows[0]) : null
}

/**
 * Records a replay of a used code by the client it was issued to, and returns the session its
 * first exchange opened (or is opening); another client's attempt records nothing.
 */
export async function markAuthorizationCodeReplayed(
  db: Executor,
  codeHash: string,
  clientId: string,
  now: number,
): Promise<{ sessionId: string | null } | null> {
  const row = await db
    .updateTable('authorization_codes')
    .set({ replayed_at: now })
    .where('code_hash', '=', codeHash)
    .where('client_id', '=', clientId)
    .where('used_at', 'is not', null)
    .returning('session_id')
    .executeTakeFirst()
  return row ? { sessionId: row.session_id } : null
}

/** Whether a replay of the code was recorded. */
export async function isAuthorizationCodeReplayed(db: Executor, codeHash: string): Promise<boolean> {
  const { rows } = await replayedQuery(db, codeHash)
  return rows[0]?.replayed_at != null
}

/**
 * Deletes the codes of a user (or of a user and one client) not yet exchanged: what they stand
 * for ended before an app came to collect it. A deleted code is refused like an unknown one.
 */
export async function deletePendingAuthorizationCodes(
  db: Executor,
  userId: string,
  clientId: string | null,
): Promise<void> {
  let query = db.deleteFrom('authorization_codes').where('user_id', '=', userId).where('used_at', 'is', null)
  if (clientId !== null) query = query.where('client_id', '=', clientId)
  await query.execute()
}

/** Deletes the codes a hosted sign-in issued that no app has exchanged yet (that sign-in ended). */
export async function deletePendingAuthorizationCodesOfSignin(db: Executor, signinSessionId: string): Promise<void> {
  await db
    .deleteFrom('authorization_codes')
    .where('signin_session_id', '=', signinSessionId)
    .where('used_at', 'is', null)
    .execute()
}

export async function deletePendingAuthorizationCodesOfClient(db: Executor, clientId: string): Promise<void> {
  await db.deleteFrom('authorization_codes').where('client_id', '=', clientId).where('used_at', 'is', null).execute()
}

/** Expired codes are useless after their lifetime; used ones are kept as long, for replay detection. */
export async function deleteExpiredAuthorizationCodes(db: Executor, before: number, limit: number): Promise<number> {
  const batch = db.selectFrom('authorization_codes').select('code_hash').where('expires_at', '<', before).limit(limit)
  const result = await db.deleteFrom('authorization_codes').where('code_hash', 'in', batch).executeTakeFirst()
  return Number(result.numDeletedRows)
}
