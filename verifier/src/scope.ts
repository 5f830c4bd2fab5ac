import { VerifierError } from './errors.js'

/** The space-separated `scope` claim (RFC 9068 §2.2.3) as a list. */
export function scopesOf(claims: { scope?: unknown }): string[] {
  return typeof claims.scope === 'string' ? claims.scope.split(' ').filter((s) => s !== '') : []
}

export function hasScopes(claims: { scope?: unknown }, required: readonly string[]): boolean {
  const granted = scopesOf(claims)
  return required.every((s) => granted.includes(s))
}

/** Throws insufficient_scope unless every required scope was granted. */
export function assertScopes(claims: { scope?: unknown }, required: readonly string[]): void {
  if (!hasScopes(claims, required))
    throw new VerifierError('insufficient_scope', 'the token lacks a required scope', { requiredScopes: required })
}
