import type { Clock } from '../../server/clock.js'

export interface TestClock extends Clock {
  advance(ms: number): void
  set(ms: number): void
}

/** The only fake in the suite: time moves when a test says so. Starts at the real time so tokens verify with default jose checks. */
export function createTestClock(start = Date.now()): TestClock {
  let now = start
  return {
    now: () => now,
    advance(ms) {
      now += ms
    },
    set(ms) {
      now = ms
    },
  }
}
