/** Time is a dependency: production reads the system clock, tests move an injected one. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }
