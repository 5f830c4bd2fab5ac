// Keeping a fixed number of async calls in flight: for a while (throughput), or for a count (set-up).

/** Calls `step(i)` with `concurrency` in flight until `seconds` have passed; how many finished, per second. */
export async function repeatFor(
  seconds: number,
  concurrency: number,
  step: (i: number) => Promise<unknown>,
): Promise<{ done: number; seconds: number; perSecond: number }> {
  let next = 0
  let done = 0
  const started = performance.now()
  const end = started + seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await step(next++)
        done++
      }
    }),
  )
  const elapsed = (performance.now() - started) / 1000
  return { done, seconds: elapsed, perSecond: done / elapsed }
}

/** Calls `step(i)` for i from 0 to count - 1 with up to `concurrency` in flight; the results in order. */
export async function repeatTimes<T>(
  count: number,
  concurrency: number,
  step: (i: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++
        results[i] = await step(i)
      }
    }),
  )
  return results
}
