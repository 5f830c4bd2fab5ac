import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

// A refresh token is `<session id>.<base64url(nonce ‖ tag)>`, tag = HMAC-SHA256(session key,
// session id ‖ nonce) cut to 128 bits. The session id lets a used token that was pruned from
// refresh_tokens still be traced to its family (reuse detection), and the tag, which only the
// server can make, keeps a forged token naming someone's session from revoking it. Tokens issued
// before this format (one base64url string, no dot) are still accepted by their hash.
const NONCE_BYTES = 16
const TAG_BYTES = 16
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/
const BODY = /^[A-Za-z0-9_-]{43}$/

/** A fresh 256-bit key for a session's refresh-token family. */
export function generateRefreshKey(): string {
  return randomBytes(32).toString('base64url')
}

function tagOf(sessionId: string, key: string, nonce: Buffer): Buffer {
  return createHmac('sha256', Buffer.from(key, 'base64url'))
    .update(sessionId, 'utf8')
    .update(nonce)
    .digest()
    .subarray(0, TAG_BYTES)
}

/** A new refresh token of the session's family: 128 random bits plus the tag. */
export function generateFamilyRefreshToken(sessionId: string, key: string): string {
  const nonce = randomBytes(NONCE_BYTES)
  return `${sessionId}.${Buffer.concat([nonce, tagOf(sessionId, key, nonce)]).toString('base64url')}`
}

/** The session a token names, if it has the family format (checked before any database use). */
export function sessionIdNamedBy(token: string): string | null {
  const dot = token.indexOf('.')
  if (dot < 0) return null
  const sessionId = token.slice(0, dot)
  return SESSION_ID.test(sessionId) && BODY.test(token.slice(dot + 1)) ? sessionId : null
}

/** Whether the server made this token for the session with this key (constant-time). */
export function isFamilyRefreshToken(token: string, sessionId: string, key: string): boolean {
  if (sessionIdNamedBy(token) !== sessionId) return false
  const body = Buffer.from(token.slice(sessionId.length + 1), 'base64url')
  if (body.length !== NONCE_BYTES + TAG_BYTES) return false
  return timingSafeEqual(body.subarray(NONCE_BYTES), tagOf(sessionId, key, body.subarray(0, NONCE_BYTES)))
}
