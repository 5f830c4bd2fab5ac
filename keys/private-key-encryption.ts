import { CompactEncrypt, compactDecrypt, type JWK } from 'jose'

// Private signing keys are stored as compact JWEs (RFC 7516, alg "dir", enc "A256GCM") under the
// key-encryption key. The kid sits in the authenticated protected header, so a ciphertext moved
// onto another key's row fails to decrypt as that key.

export class WrongKekError extends Error {
  constructor(readonly kid: string) {
    super(`the key-encryption key cannot decrypt signing key ${kid}: LATCHKEY_KEK (or the kek file in the data dir) is not the one these keys were stored with. Nothing was changed.`)
    this.name = 'WrongKekError'
  }
}

export async function encryptPrivateJwk(kek: Uint8Array, kid: string, jwk: JWK): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(jwk)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid, cty: 'jwk+json' })
    .encrypt(kek)
}

export async function decryptPrivateJwk(kek: Uint8Array, kid: string, jwe: string): Promise<JWK> {
  let result
  try {
    result = await compactDecrypt(jwe, kek, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] })
  } catch {
    throw new WrongKekError(kid)
  }
  if (result.protectedHeader.kid !== kid) throw new WrongKekError(kid)
  return JSON.parse(new TextDecoder().decode(result.plaintext)) as JWK
}
