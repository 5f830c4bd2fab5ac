import { CompactEncrypt, compactDecrypt } from 'jose'

// Secrets at rest under the key-encryption key, as compact JWEs (RFC 7516, alg "dir", enc
// "A256GCM"). The binding (which key, which token) sits in the authenticated protected header, so a
// ciphertext copied onto another row does not open there.

type Kek = Uint8Array | CryptoKey

/** The KEK imported once as a WebCrypto key, so sealing does not import it on every call. */
export async function importKek(kek: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', new Uint8Array(kek), 'AES-GCM', false, ['encrypt', 'decrypt'])
}

export async function sealText(kek: Kek, binding: Record<string, string>, text: string): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(text))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', ...binding })
    .encrypt(kek)
}

/** The plaintext, or null when the KEK is wrong, the data was altered or the binding differs. */
export async function openSealedText(
  kek: Kek,
  binding: Record<string, string>,
  sealed: string,
): Promise<string | null> {
  try {
    const result = await compactDecrypt(sealed, kek, {
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: ['A256GCM'],
    })
    for (const [name, value] of Object.entries(binding)) {
      if (result.protectedHeader[name] !== value) return null
    }
    return new TextDecoder().decode(result.plaintext)
  } catch {
    return null
  }
}
