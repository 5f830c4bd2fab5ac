import { createHash } from 'node:crypto'
import type { Keystore } from '../../keys/keystore.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { User } from '../users/user.js'
import { releasedClaims } from '../users/user-claims.js'

export interface IdTokenGrant {
  user: User
  clientId: string
  scopes: string[]
  nonce: string | null
  authTime: number
  sessionId: string
  amr: string[]
  accessToken: string
}

/**
 * OIDC Core §3.1.3.6 at_hash: the left half of the access token's hash, with the hash of the ID
 * token's algorithm (SHA-256 for ES256, RS256, PS256; SHA-512 for EdDSA with Ed25519).
 */
export function accessTokenHash(accessToken: string, alg: string): string {
  const digest = createHash(alg === 'EdDSA' ? 'sha512' : 'sha256')
    .update(accessToken, 'ascii')
    .digest()
  return digest.subarray(0, digest.length / 2).toString('base64url')
}

/**
 * OIDC Core §2 ID token for the client (aud = client_id), typed `JWT` so it can never pass where
 * an `at+jwt` access token is expected (RFC 8725 §3.11, RFC 9068 §4). It lives as long as an
 * access token; `sid` names the session behind the tokens issued with it.
 */
export async function issueIdToken(
  deps: { keystore: Keystore; config: Pick<Config, 'issuer' | 'accessTokenTtlMs' | 'signingAlg'>; clock: Clock },
  grant: IdTokenGrant,
): Promise<string> {
  const iat = Math.floor(deps.clock.now() / 1000)
  const alg = deps.keystore.activeAlg() ?? deps.config.signingAlg
  const claims = {
    iss: deps.config.issuer,
    sub: grant.user.id,
    aud: grant.clientId,
    exp: iat + Math.floor(deps.config.accessTokenTtlMs / 1000),
    iat,
    auth_time: Math.floor(grant.authTime / 1000),
    ...(grant.nonce === null ? {} : { nonce: grant.nonce }),
    at_hash: accessTokenHash(grant.accessToken, alg),
    sid: grant.sessionId,
    amr: grant.amr,
    ...releasedClaims(grant.user, grant),
  }
  return deps.keystore.sign(claims, 'JWT')
}
