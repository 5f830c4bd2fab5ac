import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose'
import type { Keystore } from '../../keys/keystore.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Db } from '../db/database.js'
import { isAccessTokenRevoked } from './revoked-access-token.store.js'
import { findSessionById } from './session.store.js'
import { findUserById } from '../users/user.store.js'
import { findClientById, findClientCutOff } from '../clients/client.store.js'
import { tokensValidFrom } from '../clients/client-lookup.js'

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

  /**
   * A deleted client's tokens are all void. A client whose secret was ended keeps those issued
   * CLIENT_CACHE_TTL_MS after the cut-off: until then another instance may still have had the old
   * secret in its lookup cache and minted with it. iat has whole seconds, so the comparison is in
   * seconds, rounding the end of the window up.
   */
  async function isCutOff(claims: AccessTokenClaims, cutOff: number): Promise<boolean> {
    if (claims.iat * 1000 < tokensValidFrom(cutOff)) return true
    return (await findClientById(deps.db, claims.client_id)) === null
  }

  async function verifyAccessToken(token: string): Promise<AccessTokenClaims | null> {
    const claims = await verifySignedAccessToken(token)
    if (!claims) return null
    if (await isAccessTokenRevoked(deps.db, claims.jti)) return null
    // A client cut-off: the client was deleted, or its secret was ended at once (rotation with
    // revoke_old). A user's token carries the client it was issued to, which for an exchanged token
    // (RFC 8693) is the exchanging service: its session lives on with the app the user signed in
    // to, so the sid check alone misses it.
    const cutOff = await findClientCutOff(deps.db, claims.client_id)
    if (cutOff !== null && (await isCutOff(claims, cutOff))) return null
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
