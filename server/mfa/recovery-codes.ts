import { randomInt } from 'node:crypto'

/** API.md: ten codes, shown once. */
const RECOVERY_CODE_COUNT = 10
// 10 characters of 31 (no 0/o, 1/l/i look-alikes): about 49 bits each from the CSPRNG, far
// beyond what 5 tries per sign-in and the account back-off let anyone guess.
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789'
const LENGTH = 10

/** Fresh recovery codes as users see them, "xxxxx-xxxxx". */
export function generateRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    let code = ''
    for (let i = 0; i < LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)]
    return `${code.slice(0, 5)}-${code.slice(5)}`
  })
}
