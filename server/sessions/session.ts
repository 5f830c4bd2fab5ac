import type { SessionRow } from './session.table.js'

export interface Session {
  id: string
  userId: string
  clientId: string
  scopes: string[]
  audience: string
  amr: string[]
  authTime: number
  createdAt: number
  lastUsedAt: number
  expiresAt: number
  revokedAt: number | null
  ip: string | null
  userAgent: string | null
  /** The hosted sign-in that opened it (authorization code flow), or null. */
  signinSessionId: string | null
}

export function sessionFromRow(row: SessionRow): Session {
  return {
    id: row.id,
    userId: row.user_id,
    clientId: row.client_id,
    scopes: row.scope === '' ? [] : row.scope.split(' '),
    audience: row.audience,
    amr: JSON.parse(row.amr) as string[],
    authTime: row.auth_time,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    ip: row.ip,
    userAgent: row.user_agent,
    signinSessionId: row.signin_session_id,
  }
}
