import type { FastifyRequest } from 'fastify'
import { formatUserCode, normalizeUserCode } from '../sessions/user-code.js'

/**
 * A sign-in that started at /device carries a `device_user_code` field through its steps (password,
 * second factor, passkey), so it ends back at /device (RFC 8628 §3.3) instead of on the "Signed in"
 * page. The field holds the code typed so far, or "-" for none (an empty field would be dropped as
 * omitted). Null outside such a sign-in. Only a normalised code survives, so the way back is
 * always /device itself (no open redirect).
 */
export function deviceSigninFieldOf(request: FastifyRequest): string | null {
  const body = request.body as { device_user_code?: unknown } | null | undefined
  const value = body?.device_user_code
  return typeof value === 'string' ? deviceSigninField(value) : null
}

/** The field's value for a code as typed (any case, dash optional), or "-". */
export function deviceSigninField(typed: string | undefined): string {
  const letters = typed === undefined ? null : normalizeUserCode(typed)
  return letters === null ? '-' : formatUserCode(letters)
}

/** /device, with the code filled in when there is one. */
export function devicePagePath(field: string): string {
  return field === '-' ? '/device' : `/device?${new URLSearchParams({ user_code: field }).toString()}`
}
