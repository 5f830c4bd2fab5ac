import { InvalidScope } from '../errors.js'

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by single spaces.
const scopeToken = /^[\x21\x23-\x5b\x5d-\x7e]+$/

export function isScopeToken(token: string): boolean {
  return scopeToken.test(token)
}

/** Parses a scope parameter into distinct tokens; malformed → invalid_scope. */
export function parseScope(text: string): string[] {
  const tokens = text.split(' ')
  if (tokens.some((t) => !isScopeToken(t)))
    throw new InvalidScope('scope is malformed: scope tokens are separated by single spaces')
  return [...new Set(tokens)]
}

/** The requested scopes if all are allowed; none requested → every allowed scope (RFC 6749 §3.3 default). */
export function grantScopes(requested: string | undefined, allowed: readonly string[]): string[] {
  if (requested === undefined) return [...allowed]
  const scopes = parseScope(requested)
  const refused = scopes.filter((s) => !allowed.includes(s))
  if (refused.length > 0) throw new InvalidScope(`scope not allowed for this client: ${refused.join(' ')}`)
  return scopes
}
