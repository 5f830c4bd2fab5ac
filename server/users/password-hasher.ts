import os from 'node:os'
import { randomBytes } from 'node:crypto'
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2'
import { ServiceUnavailable } from '../errors.js'
import { argon2ParamsOf, mostCommonParams } from './dummy-hash-params.js'

export interface Argon2Params {
  memoryCost: number
  timeCost: number
  parallelism: number
}

const RETRY_AFTER_SECONDS = 1
/** @node-rs/argon2's Algorithm.Argon2id (a const enum, which isolated modules cannot import). */
const ARGON2ID = 2

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

/** A user's fair share of the queue: at most this many of their hashes running or waiting at once. */
const DEFAULT_MAX_PER_OWNER = 2

/**
 * Whose work a hash is (an account): one account can hold at most `maxPerOwner` places in the
 * queue, running or waiting (finding M2), so a flood from one account is refused at once and
 * leaves the queue to everyone else.
 */
export interface HashingOwner {
  owner?: string
}

/** How often the dummy's parameters are taken again from a sample of stored hashes. */
const DUMMY_PARAMS_REFRESH_MS = 10 * 60_000

/** Where the dummy verify learns the parameters stored hashes use (finding L4; see dummy-hash-params.ts). */
interface DummyParamsSource {
  /** Stored password hashes, a sample of them. */
  sample(): Promise<string[]>
  now(): number
}

export function createPasswordHasher(options: {
  params: Argon2Params
  concurrency?: number
  maxQueue?: number
  maxPerOwner?: number
  metrics?: HashingObserver
  storedHashes?: DummyParamsSource
}) {
  const concurrency = options.concurrency ?? defaultHashingConcurrency(options.params.parallelism)
  const maxQueue = options.maxQueue ?? concurrency * 8
  const maxPerOwner = options.maxPerOwner ?? DEFAULT_MAX_PER_OWNER
  const params = { algorithm: ARGON2ID, ...options.params }
  let running = 0
  const waiting: (() => void)[] = []
  const held = new Map<string, number>()
  const dummyHashes = new Map<string, Promise<string>>()
  let dummyParams: { params: Argon2Params; takenAt: number } | null = null
  let sampling: Promise<void> | null = null

  /**
   * The parameters of most stored hashes, from a sample of them. The first sample is awaited, when
   * the first dummy hash is made (which costs a hash anyway); later ones are taken every 10
   * minutes in the background, so an unknown email never waits for a query a known one would not
   * make. The configured parameters stand in while no sample could be read.
   */
  async function paramsForDummy(): Promise<Argon2Params> {
    const source = options.storedHashes
    if (source === undefined) return options.params
    const now = source.now()
    if (sampling === null && (dummyParams === null || now - dummyParams.takenAt >= DUMMY_PARAMS_REFRESH_MS)) {
      sampling = source
        .sample()
        .then((hashes) => {
          dummyParams = { params: mostCommonParams(hashes) ?? options.params, takenAt: now }
        })
        // A database outage leaves the last known parameters; a later unknown email tries again.
        .catch(() => {})
        .finally(() => {
          sampling = null
        })
    }
    if (dummyParams === null && sampling !== null) await sampling
    return dummyParams?.params ?? options.params
  }

  /** A hash of a random password made with `dummy` parameters, made once per parameter set. */
  function dummyHashFor(dummy: Argon2Params): Promise<string> {
    const key = `${dummy.memoryCost},${dummy.timeCost},${dummy.parallelism}`
    let made = dummyHashes.get(key)
    if (made === undefined) {
      // A refusal (full queue) must not be remembered: every later unknown-account login would
      // then answer 503 where a known one answers 401, telling the two apart.
      made = run(() => argon2Hash(randomBytes(16).toString('base64url'), { algorithm: ARGON2ID, ...dummy })).catch(
        (error: unknown) => {
          dummyHashes.delete(key)
          throw error
        },
      )
      dummyHashes.set(key, made)
    }
    return made
  }

  const busy = () => new ServiceUnavailable('too many password checks in progress, retry shortly', RETRY_AFTER_SECONDS)

  function assertCapacity(): void {
    if (running >= concurrency && waiting.length >= maxQueue) {
      options.metrics?.hashingRejected.inc()
      throw busy()
    }
  }

  /** Takes one of the owner's places, or refuses (503) when they hold their share already. */
  function takeShare(owner: string | undefined): () => void {
    if (owner === undefined) return () => {}
    const count = held.get(owner) ?? 0
    if (count >= maxPerOwner) {
      options.metrics?.hashingRejected.inc()
      throw busy()
    }
    held.set(owner, count + 1)
    return () => {
      const left = (held.get(owner) ?? 1) - 1
      if (left <= 0) held.delete(owner)
      else held.set(owner, left)
    }
  }

  async function run<T>(work: () => Promise<T>, by: HashingOwner = {}): Promise<T> {
    if (running >= concurrency) assertCapacity()
    const giveBack = takeShare(by.owner)
    try {
      if (running >= concurrency) {
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
    } finally {
      giveBack()
    }
  }

  async function verify(hash: string, password: string, by?: HashingOwner): Promise<boolean> {
    return run(async () => {
      try {
        return await argon2Verify(hash, password)
      } catch {
        return false
      }
    }, by)
  }

  return {
    hash: (password: string, by?: HashingOwner): Promise<string> => run(() => argon2Hash(password, params), by),
    verify,
    /**
     * Same cost as a real verify, for accounts that do not exist (ASVS 6.3.8: no timing oracle):
     * with the parameters most stored hashes use, which after a parameter change are not the
     * configured ones (finding L4).
     */
    async verifyDummy(password: string, by?: HashingOwner): Promise<false> {
      await verify(await dummyHashFor(await paramsForDummy()), password, by)
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
