import type { Kysely, Transaction } from 'kysely'
import type { Logger } from 'pino'
import type { SigningAlg } from './generate-signing-key.js'
import { generateSigningKey } from './generate-signing-key.js'
import { encryptPrivateJwk } from './private-key-encryption.js'
import { findLiveKeys, insertKey, transitionKey, withLifecycleLock } from './signing-key.store.js'
import type { KeysDatabase, SigningKeyRow } from './signing-key.table.js'

// Lifecycle: next → active → retired → removed.
// - A next key is published as soon as it exists and only signs after it has been in the JWKS
//   for at least one JWKS cache lifetime (in practice a whole rotation interval).
// - After the rotation interval the next key takes over and the active one retires.
// - A retired key stays published until every token it signed has expired, plus clock skew.

interface LifecycleSettings {
  signingAlg: SigningAlg
  keyRotationIntervalMs: number
  accessTokenTtlMs: number
  jwksMaxAgeMs: number
  clockSkewMs: number
}

export interface LifecycleDeps {
  db: Kysely<KeysDatabase>
  config: LifecycleSettings
  kek: Uint8Array
  log: Logger
}

type Step =
  | { kind: 'create'; state: 'active' | 'next' }
  | { kind: 'activate'; kid: string }
  | { kind: 'retire'; kid: string }
  | { kind: 'remove'; kid: string }
  | { kind: 'discard'; kid: string }

/** What is due at `now`, decided from the rows alone; applying it is a separate, locked step. */
function planLifecycle(keys: SigningKeyRow[], now: number, config: LifecycleSettings): Step[] {
  const steps: Step[] = []
  const active = keys.find((k) => k.state === 'active')
  let next = keys.find((k) => k.state === 'next')

  if (!active) {
    // First start (or every key revoked): nothing has been signed that a verifier could be
    // holding, so the new key signs at once.
    if (next) {
      steps.push({ kind: 'activate', kid: next.kid })
      next = undefined
    } else {
      steps.push({ kind: 'create', state: 'active' })
    }
  } else if (
    next &&
    now >= (active.activated_at ?? active.created_at) + config.keyRotationIntervalMs &&
    now >= next.created_at + config.jwksMaxAgeMs
  ) {
    steps.push({ kind: 'retire', kid: active.kid }, { kind: 'activate', kid: next.kid })
    next = undefined
  }
  // LATCHKEY_SIGNING_ALG changed: the waiting next key has signed nothing, so it is replaced by
  // one of the new algorithm, which then takes over at the next rotation. Only once it has been
  // published for a cache lifetime: during a rolling deploy instances with the old and the new
  // setting would otherwise replace each other's key on every tick and never rotate.
  if (next && next.alg !== config.signingAlg && now >= next.created_at + config.jwksMaxAgeMs) {
    steps.push({ kind: 'discard', kid: next.kid })
    next = undefined
  }
  if (!next) steps.push({ kind: 'create', state: 'next' })

  for (const key of keys) {
    if (key.state === 'retired' && key.publish_until !== null && now >= key.publish_until)
      steps.push({ kind: 'remove', kid: key.kid })
  }
  return steps
}

/** Retired keys stay published this long after they stop signing. */
function retirementWindow(config: LifecycleSettings): number {
  return config.accessTokenTtlMs + config.clockSkewMs
}

/**
 * Performs whatever lifecycle step is due. Cheap when nothing is: the plan is first made from the
 * caller's unlocked read, and only when it has steps is it made again under the lock and applied,
 * so with several instances each step happens exactly once. True when the keys may have changed.
 */
export async function runLifecycle(deps: LifecycleDeps, now: number, current: SigningKeyRow[]): Promise<boolean> {
  if (planLifecycle(current, now, deps.config).length === 0) return false
  await withLifecycleLock(deps.db, now, async (trx) => {
    // Another instance may have done the work while this one waited for the lock.
    for (const step of planLifecycle(await findLiveKeys(trx), now, deps.config)) await applyStep(deps, trx, step, now)
  })
  return true
}

async function applyStep(deps: LifecycleDeps, trx: Transaction<KeysDatabase>, step: Step, now: number): Promise<void> {
  switch (step.kind) {
    case 'create': {
      const kid = await createKey(deps, trx, step.state, now)
      deps.log.info(
        { event: 'key.created', kid, state: step.state, alg: deps.config.signingAlg },
        'signing key created',
      )
      return
    }
    case 'activate':
      if (await transitionKey(trx, step.kid, 'next', 'active', { activated_at: now })) {
        deps.log.info({ event: 'key.activated', kid: step.kid }, 'signing key activated')
      }
      return
    case 'retire':
      if (
        await transitionKey(trx, step.kid, 'active', 'retired', {
          retired_at: now,
          publish_until: now + retirementWindow(deps.config),
        })
      ) {
        deps.log.info({ event: 'key.retired', kid: step.kid }, 'signing key retired')
      }
      return
    case 'discard':
      if (await transitionKey(trx, step.kid, 'next', 'removed', { removed_at: now })) {
        deps.log.info(
          { event: 'key.discarded', kid: step.kid },
          'unused next key replaced after a signing algorithm change',
        )
      }
      return
    case 'remove':
      if (await transitionKey(trx, step.kid, 'retired', 'removed', { removed_at: now })) {
        deps.log.info({ event: 'key.removed', kid: step.kid }, 'retired signing key removed from the JWKS')
      }
      return
  }
}

async function createKey(
  deps: LifecycleDeps,
  trx: Transaction<KeysDatabase>,
  state: 'active' | 'next',
  now: number,
): Promise<string> {
  const key = await generateSigningKey(deps.config.signingAlg)
  await insertKey(trx, {
    kid: key.kid,
    alg: key.alg,
    state,
    public_jwk: JSON.stringify(key.publicJwk),
    private_jwk_encrypted: await encryptPrivateJwk(deps.kek, key.kid, key.privateJwk),
    created_at: now,
    activated_at: state === 'active' ? now : null,
    retired_at: null,
    publish_until: null,
    removed_at: null,
  })
  return key.kid
}

export interface RotationResult {
  activated: string
  retired: string | null
  revoked: boolean
  /** The new active key was published for less than one JWKS cache lifetime. */
  publishedBriefly: boolean
}

/**
 * Manual rotation (`latchkey keys rotate`): the next key signs from now on. With revokeCurrent the
 * old key leaves the JWKS at once, for a compromised key: its tokens stop verifying.
 */
export async function rotateNow(
  deps: LifecycleDeps,
  now: number,
  options: { revokeCurrent: boolean },
): Promise<RotationResult> {
  return withLifecycleLock(deps.db, now, async (trx) => {
    const keys = await findLiveKeys(trx)
    const active = keys.find((k) => k.state === 'active')
    const next = keys.find((k) => k.state === 'next')
    let retired: string | null = null
    if (active) {
      if (options.revokeCurrent) {
        await transitionKey(trx, active.kid, 'active', 'removed', {
          retired_at: now,
          publish_until: now,
          removed_at: now,
        })
        deps.log.warn({ event: 'key.revoked', kid: active.kid }, 'signing key revoked and removed from the JWKS')
      } else {
        await transitionKey(trx, active.kid, 'active', 'retired', {
          retired_at: now,
          publish_until: now + retirementWindow(deps.config),
        })
        deps.log.info({ event: 'key.retired', kid: active.kid }, 'signing key retired')
      }
      retired = active.kid
    }
    let activated: string
    let publishedAt: number
    if (next) {
      await transitionKey(trx, next.kid, 'next', 'active', { activated_at: now })
      activated = next.kid
      publishedAt = next.created_at
    } else {
      activated = await createKey(deps, trx, 'active', now)
      publishedAt = now
    }
    deps.log.info({ event: 'key.activated', kid: activated }, 'signing key activated')
    const nextKid = await createKey(deps, trx, 'next', now)
    deps.log.info(
      { event: 'key.created', kid: nextKid, state: 'next', alg: deps.config.signingAlg },
      'signing key created',
    )
    return {
      activated,
      retired,
      revoked: options.revokeCurrent && retired !== null,
      publishedBriefly: now - publishedAt < deps.config.jwksMaxAgeMs,
    }
  })
}
