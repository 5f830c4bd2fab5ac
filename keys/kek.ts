import fs from 'node:fs'
import path from 'node:path'
import { hkdfSync, randomBytes } from 'node:crypto'
import type { Logger } from 'pino'

const KEK_FILE = 'kek'

/**
 * The key-encryption key: LATCHKEY_KEK when set, otherwise a file in the data dir that is
 * generated once (mode 0600). The file is convenient for one instance; it lives beside the data
 * it protects, so production should set LATCHKEY_KEK from a secret store.
 */
export function loadKek(settings: { kek: Uint8Array | null; dataDir: string }, log: Logger): Uint8Array {
  if (settings.kek) return settings.kek
  const file = path.join(settings.dataDir, KEK_FILE)
  fs.mkdirSync(settings.dataDir, { recursive: true, mode: 0o700 })
  // Written whole under a private name, then linked into place: link() fails if the file exists,
  // so two processes starting at once never overwrite each other, and neither ever reads a
  // half-written key.
  const draft = `${file}.${process.pid}.${randomBytes(6).toString('hex')}`
  fs.writeFileSync(draft, randomBytes(32).toString('base64url') + '\n', { flag: 'wx', mode: 0o600 })
  try {
    fs.linkSync(draft, file)
    log.warn(
      { event: 'kek.generated', file },
      'LATCHKEY_KEK is not set: generated a key-encryption key in the data dir. Set LATCHKEY_KEK for production and for several instances.',
    )
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  } finally {
    fs.rmSync(draft, { force: true })
  }
  const stat = fs.statSync(file)
  if ((stat.mode & 0o077) !== 0)
    log.warn({ event: 'kek.file_permissions', file }, 'the kek file is readable by other users; chmod 600 it')
  const bytes = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64url')
  if (bytes.length !== 32) throw new Error(`${file} does not hold a 32-byte key-encryption key`)
  return new Uint8Array(bytes)
}

/**
 * A secret for one purpose derived from the KEK (HKDF-SHA256): every instance sharing the KEK
 * derives the same one, and none of them reveals the KEK or another purpose's secret.
 */
export function deriveSecret(kek: Uint8Array, purpose: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', kek, new Uint8Array(0), `latchkey ${purpose}`, 32))
}
