import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

// Client secrets are 256 random bits, so a fast hash is enough: nothing can be guessed by brute
// force, and a slow hash would tax every token request. Only the hash is stored.

export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url')
}

export function hashClientSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('base64url')
}

// Compared against when the client is unknown, so the work done does not reveal whether it exists.
const unknownClientHash = hashClientSecret(generateClientSecret())

/** Constant-time comparison of a presented secret with a stored hash (or the dummy when null). */
export function verifyClientSecret(presented: string, storedHash: string | null): boolean {
  const actual = createHash('sha256').update(presented, 'utf8').digest()
  const expected = Buffer.from(storedHash ?? unknownClientHash, 'base64url')
  if (expected.length !== actual.length) return false
  return timingSafeEqual(actual, expected) && storedHash !== null
}
