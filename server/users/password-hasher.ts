import os from 'node:os'
import { randomBytes } from 'node:crypto'
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2'
import { ServiceUnavailable } from '../errors.js'

export interface Argon2Params {
  memoryCost: number
  timeCost: number
  parallelism: number
}

const RETRY_AFTER_SECONDS = 1
/** @node-rs/argon2's Algorithm.Argon2id (a const enum, which isolated modules cannot import). */
const ARGON2ID = 2

/**
 * The m, t and p of a PHC string. node-argon2 (which wrote the hashes of earlier versions) puts
 * them in the order m,p,t, the PHC format in m,t,p: both are read, by name.
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

/**
 * argon2id (OWASP Password Storage) behind one bounded queue. Each hash keeps a core busy for
 * ~20 ms; running one fewer than the machine has cores leaves a core for the event loop (tokens,
 * JWKS, health), and a full queue answers 503 at once instead of piling up work, so a login flood
 * cannot starve the rest of the server.
 */
// libuv's default pool; WebCrypto signing shares it, and measured signing p50 went from 0.4 ms to
// 28 ms once argon2 held all four threads.
const LIBUV_THREADPOOL_SIZE = 4

/** Hashes at once: each uses `parallelism` threads (argon2 lanes), and one core stays free. */
export function defaultHashingConcurrency(parallelism = 1): number {
  return Math.max(1, Math.floor(Math.min(os.availableParallelism() - 1, LIBUV_THREADPOOL_SIZE - 1) / parallelism))
}

/** Where the queue reports waits and refusals (the server's metrics; the CLI passes none). */
interface HashingObserver {
  hashingWait: { observe(seconds: number): void }
  hashingRejected: { inc(): void }
}

export function createPasswordHasher(options: {
  params: Argon2Params
  concurrency?: number
  maxQueue?: number
  metrics?: HashingObserver
}) {
  const concurrency = options.concurrency ?? defaultHashingConcurrency(options.params.parallelism)
  const maxQueue = options.maxQueue ?? concurrency * 8
  const params = { algorithm: ARGON2ID, ...options.params }
  let running = 0
  const waiting: (() => void)[] = []
  let dummyHash: Promise<string> | null = null

  function assertCapacity(): void {
    if (running >= concurrency && waiting.length >= maxQueue) {
      options.metrics?.hashingRejected.inc()
      throw new ServiceUnavailable('too many password checks in progress, retry shortly', RETRY_AFTER_SECONDS)
    }
  }

  async function run<T>(work: () => Promise<T>): Promise<T> {
    if (running >= concurrency) {
      assertCapacity()
      const queuedAt = performance.now()
      await new Promise<void>((resolve) => waiting.push(resolve))
      options.metrics?.hashingWait.observe((performance.now() - queuedAt) / 1000)
    } else {
      running++
      options.metrics?.hashingWait.observe(0)
    }
    try {
      return await work()
    } finally {
      const next = waiting.shift()
      // The slot passes straight to the next waiter, so `running` only drops when none waits.
      if (next) next()
      else running--
    }
  }

  async function verify(hash: string, password: string): Promise<boolean> {
    return run(async () => {
      try {
        return await argon2Verify(hash, password)
      } catch {
        return false
      }
    })
  }

  return {
    hash: (password: string): Promise<string> => run(() => argon2Hash(password, params)),
    verify,
    /** Same cost as a real verify, for accounts that do not exist (ASVS 6.3.8: no timing oracle). */
    async verifyDummy(password: string): Promise<false> {
      // A refusal (full queue) must not be remembered: every later unknown-account login would
      // then answer 503 where a known one answers 401, telling the two apart.
      dummyHash ??= run(() => argon2Hash(randomBytes(16).toString('base64url'), params)).catch((error: unknown) => {
        dummyHash = null
        throw error
      })
      await verify(await dummyHash, password)
      return false
    },
    /** True for a hash made with other parameters (or another variant) than the configured ones. */
    needsRehash: (hash: string): boolean => {
      const stored = argon2ParamsOf(hash)
      return (
        stored === null ||
        stored.algorithm !== 'argon2id' ||
        stored.memoryCost !== options.params.memoryCost ||
        stored.timeCost !== options.params.timeCost ||
        stored.parallelism !== options.params.parallelism
      )
    },
    /** Fails fast, before a request spends work on the database, when the queue is already full. */
    assertCapacity,
    stats: () => ({ running, queued: waiting.length }),
    /** Beyond both, work is refused (503). */
    limits: () => ({ concurrency, maxQueue }),
  }
}
