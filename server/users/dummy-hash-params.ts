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

/**
 * The variant and the m, t and p of a PHC string; null when it is not one. node-argon2 (which wrote
 * the hashes of earlier versions) puts the parameters in the order m,p,t, the PHC format in m,t,p:
 * both are read, by name.
 */
export function argon2ParamsOf(hash: string): (Argon2Params & { algorithm: string }) | null {
  const match = /^\$(argon2(?:id|i|d))\$v=19\$([a-z]=\d{1,10}(?:,[a-z]=\d{1,10}){2})\$/.exec(hash)
  if (!match) return null
  const values: Record<string, number> = Object.fromEntries(
    match[2]!.split(',').map((pair) => [pair[0]!, Number(pair.slice(2))] as const),
  )
  if (values.m === undefined || values.t === undefined || values.p === undefined) return null
  return { algorithm: match[1]!, memoryCost: values.m, timeCost: values.t, parallelism: values.p }
}

/** The parameters most of `hashes` use (ties: the costlier); null when none is an argon2 hash. */
export function mostCommonParams(hashes: readonly string[]): Argon2Params | null {
  const counts = new Map<string, { params: Argon2Params; count: number }>()
  for (const hash of hashes) {
    const parsed = argon2ParamsOf(hash)
    if (parsed === null) continue
    const params = { memoryCost: parsed.memoryCost, timeCost: parsed.timeCost, parallelism: parsed.parallelism }
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
