import { keysDb } from '../db/database.js'
import { findAllKeys } from '../../keys/signing-key.store.js'
import type { RotationResult } from '../../keys/key-lifecycle.js'
import { auditAdminAction, type Actor, type AdminDeps } from './admin-actor.js'

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/** Every signing key with its state and dates; public facts only. */
export async function listSigningKeys(deps: Pick<AdminDeps, 'db'>) {
  return (await findAllKeys(keysDb(deps.db))).map((k) => ({
    kid: k.kid,
    alg: k.alg,
    state: k.state,
    created_at: iso(k.created_at),
    activated_at: iso(k.activated_at),
    retired_at: iso(k.retired_at),
    published_until: iso(k.publish_until),
    removed_at: iso(k.removed_at),
  }))
}

/** Rotates through keys/ (the caller holds the KEK) and records who did it. */
export async function rotateSigningKeysAsAdmin(
  deps: AdminDeps,
  actor: Actor,
  rotate: (options: { revokeCurrent: boolean }) => Promise<RotationResult>,
  options: { revokeCurrent: boolean },
): Promise<RotationResult> {
  const result = await rotate(options)
  await auditAdminAction(deps, actor, {
    event: 'key.rotated',
    details: { activated: result.activated, retired: result.retired, revoked: result.revoked },
  })
  return result
}
