import { createHash, timingSafeEqual } from 'node:crypto'

// RFC 7636 §4.1: code-verifier = 43*128unreserved
const verifierFormat = /^[A-Za-z0-9._~-]{43,128}$/

export function isWellFormedCodeVerifier(verifier: string): boolean {
  return verifierFormat.test(verifier)
}

/** RFC 7636 §4.6: BASE64URL(SHA256(verifier)) equals the challenge, compared in constant time. */
export function verifyS256(verifier: string, challenge: string): boolean {
  const actual = createHash('sha256').update(verifier, 'ascii').digest()
  const expected = Buffer.from(challenge, 'base64url')
  return expected.length === actual.length && timingSafeEqual(actual, expected)
}
