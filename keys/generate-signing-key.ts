import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose'
import { toPublicJwk, type PublicJwk } from './public-jwk.js'

/** The JWS algorithms Latchkey signs with (RFC 7518 / RFC 8037); one per key (RFC 8725 §3.1). */
export const signingAlgorithms = ['ES256', 'RS256', 'PS256', 'EdDSA'] as const
export type SigningAlg = (typeof signingAlgorithms)[number]

export interface GeneratedKey {
  kid: string
  alg: SigningAlg
  publicJwk: PublicJwk
  privateJwk: JWK
}

const generateOptions: Record<SigningAlg, Parameters<typeof generateKeyPair>[1]> = {
  ES256: { extractable: true },
  // RFC 7518 §3.3 and RFC 8725: RSA keys of at least 2048 bits.
  RS256: { extractable: true, modulusLength: 2048 },
  PS256: { extractable: true, modulusLength: 2048 },
  EdDSA: { extractable: true, crv: 'Ed25519' },
}

/** A fresh key pair whose kid is its RFC 7638 thumbprint. */
export async function generateSigningKey(alg: SigningAlg): Promise<GeneratedKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, generateOptions[alg])
  const exportedPublic = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(exportedPublic, 'sha256')
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg }
  return { kid, alg, publicJwk: toPublicJwk(exportedPublic, kid, alg), privateJwk }
}
