import { ApiError } from '../errors.js'
import { isCommonPassword } from './common-passwords.js'

// NIST SP 800-63B §3.1.1.2 and ASVS 5.0 §6.2: length is what counts; no composition rules, no
// truncation, any Unicode (normalised), and a blocklist of known-breached passwords.

const MAX_PASSWORD_BYTES = 1024

/** NFKC, so the same passphrase typed on another keyboard or input method still matches. */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC')
}

/** Refuses oversized input before any normalisation or hashing: a 1 MB password costs nothing. */
export function assertPasswordWithinLimit(password: string): void {
  if (password.length > MAX_PASSWORD_BYTES || Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw new ApiError('password_too_long', 400, `the password must be at most ${MAX_PASSWORD_BYTES} bytes`)
  }
}

export function assertAcceptablePassword(password: string, context: { email: string; minLength: number }): void {
  assertPasswordWithinLimit(password)
  const normalized = normalizePassword(password)
  if ([...normalized].length < context.minLength) {
    throw new ApiError('password_too_short', 400, `the password must be at least ${context.minLength} characters long`)
  }
  if (isCommonPassword(normalized)) {
    throw new ApiError(
      'password_too_common',
      400,
      'this password appears in lists of common or breached passwords; choose another',
    )
  }
  const localPart = context.email.split('@')[0] ?? ''
  if (localPart.length >= 3 && normalized.toLowerCase().includes(localPart)) {
    throw new ApiError('password_contains_email', 400, 'the password must not contain your email address')
  }
}
