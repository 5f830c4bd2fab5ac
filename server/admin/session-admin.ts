import { NotFound } from '../errors.js'
import type { Session } from '../sessions/session.js'
import { findSessionById, findSessionsOfUser } from '../sessions/session.store.js'
import { endSession } from '../sessions/end-user-access.js'
import { auditAdminAction, type Actor, type AdminDeps } from './admin-actor.js'

/** A session as operators see it: never a token or its hash. */
export function viewSession(s: Session) {
  return {
    id: s.id,
    user_id: s.userId,
    client_id: s.clientId,
    scope: s.scopes.join(' '),
    created_at: new Date(s.createdAt).toISOString(),
    last_used_at: new Date(s.lastUsedAt).toISOString(),
    expires_at: new Date(s.expiresAt).toISOString(),
    revoked_at: s.revokedAt === null ? null : new Date(s.revokedAt).toISOString(),
    ip: s.ip,
    user_agent: s.userAgent,
  }
}

export type SessionView = ReturnType<typeof viewSession>

export async function listSessionsOfUser(deps: AdminDeps, userId: string): Promise<SessionView[]> {
  return (await findSessionsOfUser(deps.db, userId)).map(viewSession)
}

/** Revokes one session as the user's own DELETE /auth/sessions/:id does; it enters the revocation feed. */
export async function revokeSessionAsAdmin(deps: AdminDeps, actor: Actor, id: string): Promise<{ revoked: string }> {
  const session = await findSessionById(deps.db, id)
  if (!session || session.revokedAt !== null) throw new NotFound(`no live session with id ${id}`)
  await endSession(deps.db, id, 'admin_revoked', deps.clock.now())
  await auditAdminAction(deps, actor, { event: 'session.revoked_by_admin', userId: session.userId, sessionId: id })
  return { revoked: id }
}
