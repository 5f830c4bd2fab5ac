import { randomInt } from 'node:crypto'
import { hashOpaqueToken } from '../opaque-token.js'

/**
 * RFC 8628 §6.1: user codes a person reads off one screen and types on another. Twenty consonants
 * (no vowels, so no words; no I, O, U, Y, 0, 1 look-alikes), 8 of them: 20^8 ≈ 2.56 × 10^10 codes,
 * about 34.6 bits. docs/device-sign-in.md shows why that and the entry rate limit make guessing hopeless.
 */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ'
const USER_CODE_LENGTH = 8

/** A fresh code from the CSPRNG (randomInt draws each letter uniformly), shown as XXXX-XXXX. */
export function generateUserCode(): string {
  let code = ''
  for (let i = 0; i < USER_CODE_LENGTH; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)]
  return `${code.slice(0, 4)}-${code.slice(4)}`
}

/**
 * What the user typed, as the 8 letters the code is: any case, with or without the dash or
 * spaces (RFC 8628 §6.1). Null when it cannot be a code at all.
 */
export function normalizeUserCode(typed: string): string | null {
  const letters = typed.toUpperCase().replace(/[\s-]/g, '')
  if (letters.length !== USER_CODE_LENGTH) return null
  for (const letter of letters) if (!USER_CODE_ALPHABET.includes(letter)) return null
  return letters
}

/** The display form of a normalised code. */
export function formatUserCode(letters: string): string {
  return `${letters.slice(0, 4)}-${letters.slice(4)}`
}

/** Only this hash is stored, like every other code. */
export function hashUserCode(letters: string): string {
  return hashOpaqueToken(`user-code:${letters}`)
}
