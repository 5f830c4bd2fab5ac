/**
 * Runs `task` once for any number of concurrent callers in this tab, and (with the Web Locks API)
 * one tab at a time. `current()` reads the value the task produces (e.g. the access token); a tab
 * that waited for the lock and finds it changed meanwhile (another tab refreshed and shared the
 * result) takes that instead of running the task again.
 */
export function singleFlight<T>(lockName: string, current: () => T | null, task: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | null = null
  return () => {
    inFlight ??= (async () => {
      try {
        const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
        if (!locks) return await task()
        const before = current()
        return await locks.request(lockName, async () => {
          const now = current()
          return now !== null && now !== before ? now : await task()
        })
      } finally {
        inFlight = null
      }
    })()
    return inFlight
  }
}
