import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose'
import type { Deps } from '../deps.js'

/** What a verified id_token_hint says: who, which app, which session. */
export interface IdTokenHint {
  userId: string
  clientId: string
  sessionId: string
}

export class InvalidIdTokenHint extends Error {
  override name = 'InvalidIdTokenHint'
}

/**
 * OpenID Connect RP-Initiated Logout 1.0 §2: an ID token we issued, checked with jose against our
 * own published keys: signature, `typ: JWT` (never an `at+jwt` access token), our issuer, one
 * audience (the client), `sub` and `sid`. §4: "the OP … SHOULD accept ID Tokens … when the RP
 * session at the OP has expired": an expired hint is verified as of its last valid second, and
 * refused once no session it could name is alive (older than the refresh-token lifetime).
 */
export async function verifyIdTokenHint(
  deps: Pick<Deps, 'keystore' | 'config' | 'clock'>,
  hint: string,
): Promise<IdTokenHint> {
  const now = deps.clock.now()
  let exp: number
  try {
    const unverified = decodeJwt(hint)
    if (typeof unverified.exp !== 'number') throw new InvalidIdTokenHint('id_token_hint has no exp')
    exp = unverified.exp * 1000
  } catch {
    throw new InvalidIdTokenHint('id_token_hint is not a JWT')
  }
  if (exp + deps.config.refreshTokenTtlMs < now) throw new InvalidIdTokenHint('id_token_hint is too old')
  let payload
  try {
    ;({ payload } = await jwtVerify(hint, createLocalJWKSet({ keys: deps.keystore.jwks().keys }), {
      issuer: deps.config.issuer,
      typ: 'JWT',
      algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      // Checked as of a moment it was valid at: the signature, issuer and type still must hold.
      currentDate: new Date(Math.min(now, exp - 1000)),
      requiredClaims: ['sub', 'aud', 'sid', 'iat', 'exp'],
    }))
  } catch {
    throw new InvalidIdTokenHint('id_token_hint is not an ID token issued by this server')
  }
  const { sub, aud, sid } = payload
  if (typeof aud !== 'string' || typeof sub !== 'string' || typeof sid !== 'string')
    throw new InvalidIdTokenHint('id_token_hint is not an ID token issued by this server')
  return { userId: sub, clientId: aud, sessionId: sid }
}
