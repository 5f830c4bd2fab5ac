import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose'
import type { Keystore } from '../../keys/keystore.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Db } from '../db/database.js'
import { isAccessTokenRevoked } from './revoked-access-token.store.js'
import { findSessionById } from './session.store.js'
import { findUserById } from '../users/user.store.js'
import { findClientCutOff } from '../clients/client.store.js'

export interface AccessTokenClaims extends JWTPayload {
  sub: string
  client_id: string
  jti: string
  iat: number
  exp: number
  scope?: string
  sid?: string
  /** RFC 9449 §6.1: the DPoP key a bound token needs a proof of. */
  cnf?: { jkt?: string }
}

type Verifier = ReturnType<typeof createLocalJWKSet>

/**
 * Checks one of our own access tokens the way a careful resource server would (RFC 9068 §4:
 * typ, iss, signature with a published key, exp) and then what only Latchkey knows: the token, its
 * session and its user have not been revoked since it was issued. Null for anything else.
 */
export function createAccessTokenVerifier(deps: { keystore: Keystore; config: Config; db: Db; clock: Clock }) {
  let verifier: { etag: string; keys: Verifier } | null = null
  const currentKeys = (): Verifier => {
    const jwks = deps.keystore.jwks()
    if (verifier?.etag !== jwks.etag) verifier = { etag: jwks.etag, keys: createLocalJWKSet({ keys: jwks.keys }) }
    return verifier.keys
  }

  /** Signature, type, issuer and expiry only: what any resource server can check. */
  async function verifySignedAccessToken(token: string): Promise<AccessTokenClaims | null> {
    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(token, currentKeys(), {
        issuer: deps.config.issuer,
        typ: 'at+jwt',
        algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'],
        currentDate: new Date(deps.clock.now()),
        requiredClaims: ['sub', 'client_id', 'jti', 'iat', 'exp', 'aud'],
      }))
    } catch {
      return null
    }
    return payload as AccessTokenClaims
  }

  async function verifyAccessToken(token: string): Promise<AccessTokenClaims | null> {
    const claims = await verifySignedAccessToken(token)
    if (!claims) return null
    if (await isAccessTokenRevoked(deps.db, claims.jti)) return null
    // The client was deleted: none of its tokens is good any more, not even one minted after the
    // deletion by an instance that still had the client in its lookup cache. A user's token carries
    // the client it was issued to, which for an exchanged token (RFC 8693) is the exchanging service:
    // its session lives on with the app the user signed in to, so the sid check alone misses it.
    if ((await findClientCutOff(deps.db, claims.client_id)) !== null) return null
    if (claims.sid !== undefined) {
      const session = await findSessionById(deps.db, claims.sid)
      if (!session || session.revokedAt !== null || session.userId !== claims.sub) return null
      const user = await findUserById(deps.db, claims.sub)
      // iat has whole seconds: a token from the cut-off's own second survives this check, but
      // every cut-off also revokes the sessions, which the sid check above catches.
      if (!user || user.disabled || claims.iat < Math.floor(user.tokensValidAfter / 1000)) return null
    }
    return claims
  }

  return { verifySignedAccessToken, verifyAccessToken }
}

export type AccessTokenVerifier = ReturnType<typeof createAccessTokenVerifier>
export type VerifyAccessToken = AccessTokenVerifier['verifyAccessToken']
