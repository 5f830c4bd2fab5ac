import { createHash, randomUUID } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'

export interface ProofKey {
  privateKey: CryptoKey
  jwk: JWK
  jkt: string
}

export async function proofKey(alg = 'ES256'): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(publicKey)
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) }
}

export interface ProofClaims {
  htm: string
  htu: string
  iat?: number
  jti?: string
  nonce?: string
  /** The access token whose hash becomes ath. */
  accessToken?: string
}

/** An RFC 9449 proof made with jose, as a client library would. */
export async function makeProof(key: ProofKey, now: number, c: ProofClaims, alg = 'ES256'): Promise<string> {
  return new SignJWT({
    htm: c.htm,
    htu: c.htu,
    jti: c.jti ?? randomUUID(),
    ...(c.nonce === undefined ? {} : { nonce: c.nonce }),
    ...(c.accessToken === undefined ? {} : { ath: createHash('sha256').update(c.accessToken).digest('base64url') }),
  })
    .setProtectedHeader({ typ: 'dpop+jwt', alg, jwk: key.jwk })
    .setIssuedAt(c.iat ?? Math.floor(now / 1000))
    .sign(key.privateKey)
}
