import { createHmac } from 'node:crypto'
import { deriveSecret } from '../../keys/kek.js'
import { importKek, openSealedText, sealText } from '../../keys/sealed-text.js'

/**
 * Keys for second factors, derived from the KEK so every instance sharing it has the same ones
 * and none reveals the KEK: one seals TOTP secrets at rest, one keys the hash of recovery codes
 * (a stolen database alone cannot test guesses against them).
 */
export interface MfaSecrets {
  totpKey: CryptoKey
  recoveryCodeKey: Uint8Array
}

export async function createMfaSecrets(kek: Uint8Array): Promise<MfaSecrets> {
  return {
    totpKey: await importKek(deriveSecret(kek, 'totp-secrets')),
    recoveryCodeKey: deriveSecret(kek, 'recovery-codes'),
  }
}

// The user id sits in the JWE's protected header: a sealed secret copied onto another user's row
// does not open there.
const bindingOf = (userId: string) => ({ use: 'totp', uid: userId })

export function sealTotpSecret(secrets: MfaSecrets, userId: string, secretBase32: string): Promise<string> {
  return sealText(secrets.totpKey, bindingOf(userId), secretBase32)
}

export async function openTotpSecret(secrets: MfaSecrets, userId: string, sealed: string): Promise<string> {
  const secret = await openSealedText(secrets.totpKey, bindingOf(userId), sealed)
  if (secret === null) throw new Error(`the TOTP secret of user ${userId} does not open under this KEK`)
  return secret
}

export function hashRecoveryCode(secrets: MfaSecrets, code: string): string {
  return createHmac('sha256', secrets.recoveryCodeKey).update(normalizeRecoveryCode(code)).digest('base64url')
}

/** Case, spaces and dashes do not matter: users copy codes from paper. */
function normalizeRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[\s-]/g, '')
}
