import type { JWK } from 'jose'

export interface PublicJwk {
  kty: string
  kid: string
  alg: string
  use: 'sig'
  crv?: string
  x?: string
  y?: string
  n?: string
  e?: string
}

// RFC 7517/7518: a published key carries only these members. Built by picking, never by deleting
// private ones, so a new private member in some future key type cannot leak.
const publicMembers: Record<string, readonly ('crv' | 'x' | 'y' | 'n' | 'e')[]> = {
  EC: ['crv', 'x', 'y'],
  RSA: ['n', 'e'],
  OKP: ['crv', 'x'],
}

export function toPublicJwk(jwk: JWK, kid: string, alg: string): PublicJwk {
  const members = jwk.kty ? publicMembers[jwk.kty] : undefined
  if (!members) throw new Error(`unsupported key type ${String(jwk.kty)}`)
  const out: PublicJwk = { kty: jwk.kty!, kid, alg, use: 'sig' }
  for (const member of members) {
    const value = jwk[member]
    if (typeof value !== 'string') throw new Error(`key is missing its public member ${member}`)
    out[member] = value
  }
  return out
}
