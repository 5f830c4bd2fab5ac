import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type {} from '@fastify/cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'

/**
 * CSRF tokens for the hosted forms (OWASP: double-submit cookie, signed). The browser holds a
 * random 256-bit secret in a `__Host-` cookie, which no sibling subdomain can set or overwrite,
 * HttpOnly and SameSite=Strict; each form carries HMAC-SHA256(secret, purpose). A cross-site page
 * can neither read the cookie nor compute the token, and the secret never appears in the HTML.
 * Stateless, so several instances need no shared secret.
 */
const CSRF_COOKIE = '__Host-latchkey_csrf'
const CSRF_MAX_AGE_S = 2 * 60 * 60

export type FormPurpose =
  'signin' | 'signin_mfa' | 'signup' | 'consent' | 'signout' | 'security' | 'device' | 'device_consent' | 'logout'

/**
 * A form may be bound to more than its purpose: the consent form's token also covers the
 * authorization request, the sign-in and whether that sign-in happened in this flow, so a token
 * from one consent page cannot complete another request or claim a fresh sign-in it did not have.
 */
function tokenFor(secret: string, purpose: FormPurpose, binding: string | null): string {
  const hmac = createHmac('sha256', secret).update(`latchkey-form:${purpose}`)
  if (binding !== null) hmac.update(`\n${binding}`)
  return hmac.digest('base64url')
}

function readSecret(request: FastifyRequest): string | null {
  const value = request.cookies[CSRF_COOKIE]
  return value && /^[A-Za-z0-9_-]{43}$/.test(value) ? value : null
}

/** The token for a form on the page being sent; sets the cookie when the browser has none. */
export function issueCsrfToken(
  request: FastifyRequest,
  reply: FastifyReply,
  purpose: FormPurpose,
  binding: string | null = null,
): string {
  let secret = readSecret(request)
  if (secret === null) {
    secret = randomBytes(32).toString('base64url')
    // Later forms on this response reuse the same secret.
    request.cookies[CSRF_COOKIE] = secret
  }
  // Refreshed on every page so an open form keeps working for the cookie's lifetime.
  reply.setCookie(CSRF_COOKIE, secret, {
    httpOnly: true,
    secure: true,
    sameSite: 'strict',
    path: '/',
    maxAge: CSRF_MAX_AGE_S,
  })
  return tokenFor(secret, purpose, binding)
}

/** True when the form's token matches this browser's cookie for this form. */
export function isValidCsrfToken(
  request: FastifyRequest,
  purpose: FormPurpose,
  presented: string | undefined,
  binding: string | null = null,
): boolean {
  const secret = readSecret(request)
  if (secret === null || presented === undefined) return false
  const expected = Buffer.from(tokenFor(secret, purpose, binding))
  const actual = Buffer.from(presented)
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}
