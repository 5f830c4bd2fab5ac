import { randomUUID } from 'node:crypto'
import type { Keystore } from '../../keys/keystore.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'

export interface AccessTokenGrant {
  subject: string
  clientId: string
  audience: string
  scopes: string[]
  /** Further claims (sid, auth_time, amr…); never overrides the registered ones above. */
  extraClaims?: Record<string, unknown>
  /** RFC 9449 §6.1: the thumbprint of the DPoP key the token is bound to (cnf.jkt). */
  dpopJkt?: string | null
  /** Epoch ms the token must not outlive (an exchanged token ends with the token it came from). */
  notAfter?: number
}

export interface IssuedAccessToken {
  token: string
  jti: string
  expiresIn: number
  expiresAt: number
}

/** RFC 9068 §2: a JWT typed at+jwt with iss, exp, aud, sub, client_id, iat, jti (and scope). */
export async function issueAccessToken(
  deps: { keystore: Keystore; config: Pick<Config, 'issuer' | 'accessTokenTtlMs'>; clock: Clock },
  grant: AccessTokenGrant,
): Promise<IssuedAccessToken> {
  const iat = Math.floor(deps.clock.now() / 1000)
  const exp = Math.min(
    iat + Math.floor(deps.config.accessTokenTtlMs / 1000),
    grant.notAfter === undefined ? Infinity : Math.floor(grant.notAfter / 1000),
  )
  const expiresIn = exp - iat
  const jti = randomUUID()
  const claims = {
    ...grant.extraClaims,
    iss: deps.config.issuer,
    sub: grant.subject,
    aud: grant.audience,
    exp,
    iat,
    jti,
    client_id: grant.clientId,
    ...(grant.scopes.length > 0 ? { scope: grant.scopes.join(' ') } : {}),
    ...(grant.dpopJkt == null ? {} : { cnf: { jkt: grant.dpopJkt } }),
  }
  const token = await deps.keystore.sign(claims, 'at+jwt')
  return { token, jti, expiresIn, expiresAt: exp * 1000 }
}
