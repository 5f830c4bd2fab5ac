import type { FastifyReply, FastifyRequest } from 'fastify'
import { InvalidToken } from '../errors.js'
import { FIRST_PARTY_CLIENT_ID } from '../clients/client.js'
import type { AccessTokenClaims, VerifyAccessToken } from './verify-access-token.js'

interface UserAuth {
  userId: string
  sessionId: string
  claims: AccessTokenClaims
}

declare module 'fastify' {
  interface FastifyRequest {
    userAuth: UserAuth | null
  }
}

/** The bearer token of a request, if it carries exactly one in the Authorization header. */
export function readBearerToken(request: FastifyRequest): string | null {
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(request.headers.authorization ?? '')
  return match ? match[1]! : null
}

/**
 * preHandler for Latchkey's own account API (/auth/*) acting for a signed-in user: a live user
 * access token (with a session) whose audience includes Latchkey itself and that was issued to
 * Latchkey's built-in first-party client (`/auth/login`, `/auth/refresh`). Tokens of any other
 * client, including clients flagged first_party (which only skip the consent page), act for the
 * user only at the resource they were issued for and at /oauth/userinfo: an app the user signed
 * in to must not read their sessions, revoke them or change their password.
 */
export function requireUser(verify: VerifyAccessToken, audiences: string[]) {
  return async function requireUserHook(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const token = readBearerToken(request)
    if (token === null) throw new InvalidToken('a bearer access token is required')
    const claims = await verify(token)
    // RFC 9449 §7.2: a DPoP-bound token is never good as a bearer token.
    if (!claims || claims.sid === undefined || claims.cnf !== undefined) throw new InvalidToken()
    if (claims.client_id !== FIRST_PARTY_CLIENT_ID)
      throw new InvalidToken('the access token was issued to another app and is not valid for the Latchkey account API')
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
    if (!aud.some((a) => a !== undefined && audiences.includes(a)))
      throw new InvalidToken('the access token is not meant for Latchkey')
    request.userAuth = { userId: claims.sub, sessionId: claims.sid, claims }
  }
}
