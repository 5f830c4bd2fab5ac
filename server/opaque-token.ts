import { createHash, randomBytes } from 'node:crypto'

/** Opaque bearer secrets (refresh tokens): 256 bits from the CSPRNG (ASVS 7.2.3). */
export function generateOpaqueToken(): string {
  return randomBytes(32).toString('base64url')
}

/** Only this hash is stored; a database leak yields no usable token. */
export function hashOpaqueToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url')
}
