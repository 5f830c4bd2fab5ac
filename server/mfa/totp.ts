import type { TOTP } from 'otpauth'

// otpauth is only used by accounts that set up or sign in with an authenticator app: it is loaded
// on the first such request instead of at startup (the module system caches the import).
function loadOtpauth() {
  return import('otpauth')
}

// RFC 6238 as authenticator apps expect it: HMAC-SHA-1, 6 digits, 30-second steps. The secret is
// 160 bits, the length RFC 4226 §4 recommends.
const PERIOD_S = 30
const SECRET_BYTES = 20
/** RFC 6238 §5.2: one step either side absorbs clock drift and a code typed as it turns over. */
const SKEW_STEPS = 1

async function totpOf(secretBase32: string, label = '', issuer = ''): Promise<TOTP> {
  const { Secret, TOTP } = await loadOtpauth()
  return new TOTP({
    issuer,
    label,
    algorithm: 'SHA1',
    digits: 6,
    period: PERIOD_S,
    secret: Secret.fromBase32(secretBase32),
  })
}

/** A fresh secret from the CSPRNG, in base32 as users type it. */
export async function generateTotpSecret(): Promise<string> {
  const { Secret } = await loadOtpauth()
  return new Secret({ size: SECRET_BYTES }).base32
}

/** The otpauth:// URI an authenticator app scans (Key Uri Format). */
export async function totpUri(secretBase32: string, account: { issuer: string; label: string }): Promise<string> {
  return (await totpOf(secretBase32, account.label, account.issuer)).toString()
}

/**
 * The time step (counter) a code belongs to, within one step of `now`, or null when it matches
 * none. The caller records the step so that the same code is never taken twice.
 */
export async function matchTotpStep(secretBase32: string, code: string, now: number): Promise<number | null> {
  if (!/^\d{6}$/.test(code)) return null
  const { TOTP } = await loadOtpauth()
  const delta = (await totpOf(secretBase32)).validate({ token: code, timestamp: now, window: SKEW_STEPS })
  if (delta === null) return null
  return TOTP.counter({ period: PERIOD_S, timestamp: now }) + delta
}
