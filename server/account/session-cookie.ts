import type {} from '@fastify/cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ApiError } from '../errors.js'

/** __Host- prefix: Secure, Path=/, no Domain; the browser refuses it otherwise. */
const SESSION_COOKIE = '__Host-latchkey_session'

const attributes = { httpOnly: true, secure: true, sameSite: 'strict', path: '/' } as const

export function setSessionCookie(reply: FastifyReply, refreshToken: string, expiresAt: number, now: number): void {
  reply.setCookie(SESSION_COOKIE, refreshToken, {
    ...attributes,
    maxAge: Math.max(0, Math.floor((expiresAt - now) / 1000)),
  })
}

export function clearSessionCookie(reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, attributes)
}

export function readSessionCookie(request: FastifyRequest): string | null {
  const value = request.cookies[SESSION_COOKIE]
  // A refresh token: `<session id>.<body>`, or one base64url string from before that format.
  return value && /^[A-Za-z0-9_-]{20,100}$|^[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{43}$/.test(value) ? value : null
}

/**
 * CSRF defence for cookie-authenticated endpoints, on top of SameSite=Strict: the request must
 * come from an allowed Origin and carry a header a cross-site form cannot set.
 */
export function assertTrustedCookieRequest(request: FastifyRequest, allowedOrigins: ReadonlySet<string>): void {
  const origin = request.headers.origin
  if (origin === undefined || !allowedOrigins.has(origin)) {
    throw new ApiError('forbidden', 403, 'this request must come from an allowed origin')
  }
  if (request.headers['x-requested-with'] !== 'latchkey') {
    throw new ApiError('forbidden', 403, 'this request must carry the header X-Requested-With: latchkey')
  }
}
