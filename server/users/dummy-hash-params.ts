/** argon2 cost parameters, as in password-hasher.ts's Argon2Params. */
interface Argon2Params {
  memoryCost: number
  timeCost: number
  parallelism: number
}

// Finding L4: an unknown email costs a dummy argon2 verify so it takes as long as a known one. A
// known account verifies with the parameters its stored hash was made with, and after a change of
// LATCHKEY_ARGON2_* most stored hashes keep the old ones until their owners sign in again. So the
// dummy uses the parameters most stored hashes use, taken from a sample of them, not the
// configured ones (docs/security/threat-model.md, "enumeration timing").

// PHC string: $argon2id$v=19$m=…,t=…,p=…$salt$hash (the library writes the parameters in any order).
const PHC_PARAMS = /^\$argon2id?\$v=\d+\$([a-z]=\d+(?:,[a-z]=\d+)*)\$/

/** The argon2 parameters a stored PHC string was made with; null when it is not one. */
function paramsOfStoredHash(hash: string): Argon2Params | null {
  const match = PHC_PARAMS.exec(hash)
  if (!match) return null
  const values = new Map(match[1]!.split(',').map((pair) => pair.split('=') as [string, string]))
  const [m, t, p] = ['m', 't', 'p'].map((key) => Number(values.get(key)))
  if (!Number.isSafeInteger(m) || !Number.isSafeInteger(t) || !Number.isSafeInteger(p)) return null
  return { memoryCost: m!, timeCost: t!, parallelism: p! }
}

/** The parameters most of `hashes` use (ties: the costlier); null when none is an argon2 hash. */
export function mostCommonParams(hashes: readonly string[]): Argon2Params | null {
  const counts = new Map<string, { params: Argon2Params; count: number }>()
  for (const hash of hashes) {
    const params = paramsOfStoredHash(hash)
    if (params === null) continue
    const key = `${params.memoryCost},${params.timeCost},${params.parallelism}`
    const entry = counts.get(key) ?? { params, count: 0 }
    entry.count++
    counts.set(key, entry)
  }
  let best: { params: Argon2Params; count: number } | null = null
  for (const entry of counts.values()) {
    const cost = (p: Argon2Params) => p.memoryCost * p.timeCost
    if (
      best === null ||
      entry.count > best.count ||
      (entry.count === best.count && cost(entry.params) > cost(best.params))
    )
      best = entry
  }
  return best?.params ?? null
}
