/** One account per address however it is typed: trimmed, Unicode NFKC, lower-cased. */
export function canonicalEmail(input: string): string {
  return input.trim().normalize('NFKC').toLowerCase()
}

// Deliberately loose (RFC 5321 allows far more than any regex should judge): one @, no spaces,
// a dot in the domain, and the 254-octet path limit.
const plausibleEmail = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$/

export function isPlausibleEmail(canonical: string): boolean {
  return Buffer.byteLength(canonical) <= 254 && plausibleEmail.test(canonical)
}
