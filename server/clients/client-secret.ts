import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Client } from './client.js'

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

/** Constant-time comparison of a presented secret's digest with a stored hash (or the dummy when null). */
function verifyClientSecret(presentedDigest: Buffer, storedHash: string | null): boolean {
  const expected = Buffer.from(storedHash ?? unknownClientHash, 'base64url')
  if (expected.length !== presentedDigest.length) return false
  return timingSafeEqual(presentedDigest, expected) && storedHash !== null
}

/**
 * The presented secret against a confidential client's current secret and, during the overlap
 * after a rotation, its previous one. Both comparisons always run, so timing does not tell which
 * matched; an unknown or public client costs the same work and fails.
 */
export function clientSecretMatches(client: Client | null, presented: string, now: number): boolean {
  const confidential = client?.type === 'confidential' ? client : null
  // Hashed once for both comparisons: the digest does not depend on which hash it is compared with.
  const digest = createHash('sha256').update(presented, 'utf8').digest()
  const current = verifyClientSecret(digest, confidential?.secretHash ?? null)
  const previous = confidential?.previousSecret ?? null
  const old = verifyClientSecret(digest, previous?.hash ?? null)
  return current || (old && previous !== null && now < previous.expiresAt)
}
