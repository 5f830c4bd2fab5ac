/**
 * Runs `task` once for any number of concurrent callers in this tab, and (with the Web Locks API)
 * one tab at a time: a tab that waited for the lock first calls `fresh()`, which returns what the
 * tab before it obtained (shared over a BroadcastChannel) instead of refreshing again.
 */
export function singleFlight<T>(lockName: string, fresh: () => T | null, task: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | null = null
  return () => {
    inFlight ??= (async () => {
      try {
        const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
        if (!locks) return await task()
        return await locks.request(lockName, async () => fresh() ?? (await task()))
      } finally {
        inFlight = null
      }
    })()
    return inFlight
  }
}
