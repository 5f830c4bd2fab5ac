import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Deps } from '../deps.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { FIRST_PARTY_CLIENT_ID } from '../clients/client.js'
import { startSession } from '../sessions/start-session.js'
import { issueUserAccessToken } from '../tokens/user-access-token.js'
import type { User } from '../users/user.js'
import type { SigninProof } from '../users/signin-proof.js'
import { setSessionCookie } from './session-cookie.js'
import { userAgentOf } from '../http/user-agent.js'

/**
 * The end of every first-party sign-in (password alone, or password and a second step): a session
 * whose refresh token goes in the HttpOnly session cookie, and an access token in the body.
 */
export async function openFirstPartySession(
  deps: Deps,
  request: FastifyRequest,
  reply: FastifyReply,
  user: User,
  signin: { amr: string[]; authTime: number; password?: SigninProof['password'] },
) {
  const { session, refreshToken } = await startSession(deps, user, {
    clientId: FIRST_PARTY_CLIENT_ID,
    scopes: [],
    audience: deps.config.defaultAudience,
    amr: signin.amr,
    authTime: signin.authTime,
    password: signin.password,
    ip: request.ip,
    userAgent: userAgentOf(request),
  })
  const access = await issueUserAccessToken(deps, user, session)
  deps.metrics.tokensIssued.inc({ grant: 'password_login' })
  await recordAuditEvent(deps, {
    event: 'login.succeeded',
    userId: user.id,
    clientId: FIRST_PARTY_CLIENT_ID,
    sessionId: session.id,
    ip: request.ip,
    details: { amr: signin.amr.join(' ') },
  })
  setSessionCookie(reply, refreshToken, session.expiresAt, deps.clock.now())
  return { access_token: access.token, token_type: 'Bearer' as const, expires_in: access.expiresIn }
}
