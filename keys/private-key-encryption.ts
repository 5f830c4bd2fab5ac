import type { JWK } from 'jose'
import { openSealedText, sealText } from './sealed-text.js'

export class WrongKekError extends Error {
  constructor(readonly kid: string) {
    super(
      `the key-encryption key cannot decrypt signing key ${kid}: LATCHKEY_KEK (or the kek file in the data dir) is not the one these keys were stored with. Nothing was changed.`,
    )
    this.name = 'WrongKekError'
  }
}

/** A private signing key at rest, bound to its kid. */
export async function encryptPrivateJwk(kek: Uint8Array, kid: string, jwk: JWK): Promise<string> {
  return sealText(kek, { kid, cty: 'jwk+json' }, JSON.stringify(jwk))
}

export async function decryptPrivateJwk(kek: Uint8Array, kid: string, jwe: string): Promise<JWK> {
  const text = await openSealedText(kek, { kid, cty: 'jwk+json' }, jwe)
  if (text === null) throw new WrongKekError(kid)
  return JSON.parse(text) as JWK
}
