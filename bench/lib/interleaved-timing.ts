// Timing samples for comparing two kinds of request: one request at a time, the two kinds
// interleaved in pairs and each pair's order drawn at random, so drift on the machine (other
// processes, GC, a warming cache) falls on both kinds alike and neither always goes first.

/** Runs `pairs` pairs of `a()` and `b()`, each resolving to its duration in ms; the durations by kind. */
export async function collectInterleavedPairs(
  pairs: number,
  a: (i: number) => Promise<number>,
  b: (i: number) => Promise<number>,
  afterPair?: (i: number) => Promise<void>,
): Promise<{ a: number[]; b: number[] }> {
  const samples = { a: [] as number[], b: [] as number[] }
  for (let i = 0; i < pairs; i++) {
    if (Math.random() < 0.5) {
      samples.a.push(await a(i))
      samples.b.push(await b(i))
    } else {
      samples.b.push(await b(i))
      samples.a.push(await a(i))
    }
    await afterPair?.(i)
  }
  return samples
}
