import type { Config } from '../config.js'

// When a sign-in must have completed a second factor before an app gets a code from it:
// LATCHKEY_MFA=required for every app, or a client registered with --require-mfa.

/** RFC 8176 "mfa": the sign-in used more than one factor (password and code, or a verified passkey). */
export function hasCompletedSecondFactor(amr: readonly string[]): boolean {
  return amr.includes('mfa')
}

export function isSecondFactorDue(config: Pick<Config, 'mfa'>, client: { requireMfa: boolean } | null): boolean {
  return config.mfa === 'required' || client?.requireMfa === true
}
