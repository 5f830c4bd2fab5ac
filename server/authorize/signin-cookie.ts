import type {} from '@fastify/cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'

/**
 * The hosted sign-in, separate from the first-party `__Host-latchkey_session` cookie on purpose:
 * that one is SameSite=Strict and so never arrives on the cross-site navigation from an app to
 * /oauth/authorize. This one is SameSite=Lax, which browsers send on top-level GET navigations
 * only: an app's redirect finds the user signed in, while cross-site POSTs, fetches and frames
 * never carry it. It holds an opaque 256-bit value; only its hash is stored.
 */
const SIGNIN_COOKIE = '__Host-latchkey_signin'

const attributes = { httpOnly: true, secure: true, sameSite: 'lax', path: '/' } as const

export function setSigninCookie(reply: FastifyReply, token: string, maxAgeMs: number): void {
  reply.setCookie(SIGNIN_COOKIE, token, { ...attributes, maxAge: Math.max(0, Math.floor(maxAgeMs / 1000)) })
}

export function clearSigninCookie(reply: FastifyReply): void {
  reply.clearCookie(SIGNIN_COOKIE, attributes)
}

export function readSigninCookie(request: FastifyRequest): string | null {
  const value = request.cookies[SIGNIN_COOKIE]
  return value && /^[A-Za-z0-9_-]{43}$/.test(value) ? value : null
}
