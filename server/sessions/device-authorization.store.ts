import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/database.js'
import type { DeviceAuthorizationRow } from './device-authorization.table.js'

type Executor = Kysely<Database> | Transaction<Database>

/** A device's sign-in: which client asks for what, and what the user answered. */
export interface DeviceAuthorization {
  clientId: string
  scopes: string[]
  audience: string
  status: 'pending' | 'approved' | 'denied'
  /** Set once the user answered. */
  approval: { userId: string; amr: string[]; authTime: number; ip: string | null; userAgent: string | null } | null
  intervalS: number
  lastPolledAt: number | null
  createdAt: number
  expiresAt: number
  usedAt: number | null
}

function deviceAuthorizationFromRow(row: DeviceAuthorizationRow): DeviceAuthorization {
  return {
    clientId: row.client_id,
    scopes: row.scope === '' ? [] : row.scope.split(' '),
    audience: row.audience,
    status: row.status,
    approval:
      row.user_id === null || row.auth_time === null
        ? null
        : {
            userId: row.user_id,
            amr: JSON.parse(row.amr ?? '[]') as string[],
            authTime: Number(row.auth_time),
            ip: row.ip,
            userAgent: row.user_agent,
          },
    intervalS: Number(row.interval_s),
    lastPolledAt: row.last_polled_at === null ? null : Number(row.last_polled_at),
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    usedAt: row.used_at === null ? null : Number(row.used_at),
  }
}

export interface NewDeviceAuthorization {
  deviceCodeHash: string
  userCodeHash: string
  clientId: string
  scopes: string[]
  audience: string
  intervalS: number
  createdAt: number
  expiresAt: number
}

/** Inserts a pending authorization; false when the user code's hash is taken (the caller draws again). */
export async function insertDeviceAuthorization(db: Executor, row: NewDeviceAuthorization): Promise<boolean> {
  const result = await db
    .insertInto('device_authorizations')
    .values({
      device_code_hash: row.deviceCodeHash,
      user_code_hash: row.userCodeHash,
      client_id: row.clientId,
      scope: row.scopes.join(' '),
      audience: row.audience,
      status: 'pending',
      user_id: null,
      amr: null,
      auth_time: null,
      ip: null,
      user_agent: null,
      interval_s: row.intervalS,
      last_polled_at: null,
      created_at: row.createdAt,
      expires_at: row.expiresAt,
      used_at: null,
    })
    .onConflict((oc) => oc.column('user_code_hash').doNothing())
    .executeTakeFirst()
  return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1
}

/** The still-pending authorization a user code names, or null (unknown, answered or expired). */
export async function findPendingDeviceAuthorization(
  db: Executor,
  userCodeHash: string,
  now: number,
): Promise<DeviceAuthorization | null> {
  const row = await db
    .selectFrom('device_authorizations')
    .selectAll()
    .where('user_code_hash', '=', userCodeHash)
    .where('status', '=', 'pending')
    .where('expires_at', '>', now)
    .executeTakeFirst()
  return row ? deviceAuthorizationFromRow(row) : null
}

export type DeviceDecision =
  | { status: 'approved'; userId: string; amr: string[]; authTime: number; ip: string | null; userAgent: string | null }
  | { status: 'denied'; userId: string }

/** Records the user's answer if the authorization is still pending; false when it no longer is. */
export async function decideDeviceAuthorization(
  db: Executor,
  userCodeHash: string,
  decision: DeviceDecision,
  now: number,
): Promise<boolean> {
  const result = await db
    .updateTable('device_authorizations')
    .set(
      decision.status === 'approved'
        ? {
            status: 'approved',
            user_id: decision.userId,
            amr: JSON.stringify(decision.amr),
            auth_time: decision.authTime,
            ip: decision.ip,
            user_agent: decision.userAgent === null ? null : decision.userAgent.slice(0, 300),
          }
        : { status: 'denied', user_id: decision.userId },
    )
    .where('user_code_hash', '=', userCodeHash)
    .where('status', '=', 'pending')
    .where('expires_at', '>', now)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

export async function findDeviceAuthorization(
  db: Executor,
  deviceCodeHash: string,
): Promise<DeviceAuthorization | null> {
  const row = await db
    .selectFrom('device_authorizations')
    .selectAll()
    .where('device_code_hash', '=', deviceCodeHash)
    .executeTakeFirst()
  return row ? deviceAuthorizationFromRow(row) : null
}

/**
 * Records a poll (RFC 8628 §3.5). In time (at least the interval after the last one) it only moves
 * last_polled_at and returns true; too early it also adds 5 s to the interval and returns false.
 * One conditional UPDATE decides, so concurrent polls cannot both count as in time.
 */
export async function recordDevicePoll(db: Executor, deviceCodeHash: string, now: number): Promise<boolean> {
  const inTime = await db
    .updateTable('device_authorizations')
    .set({ last_polled_at: now })
    .where('device_code_hash', '=', deviceCodeHash)
    .where((eb) =>
      eb.or([
        eb('last_polled_at', 'is', null),
        // last_polled_at + interval_s * 1000 <= now
        eb(eb('last_polled_at', '+', eb('interval_s', '*', 1000)), '<=', now),
      ]),
    )
    .executeTakeFirst()
  if (Number(inTime.numUpdatedRows) === 1) return true
  await db
    .updateTable('device_authorizations')
    .set((eb) => ({ last_polled_at: now, interval_s: eb('interval_s', '+', 5) }))
    .where('device_code_hash', '=', deviceCodeHash)
    .execute()
  return false
}

/** Marks an approved authorization used, if nobody did so first; of concurrent polls exactly one gets it. */
export async function claimDeviceAuthorization(
  db: Executor,
  deviceCodeHash: string,
  now: number,
): Promise<DeviceAuthorization | null> {
  const row = await db
    .updateTable('device_authorizations')
    .set({ used_at: now })
    .where('device_code_hash', '=', deviceCodeHash)
    .where('status', '=', 'approved')
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returningAll()
    .executeTakeFirst()
  return row ? deviceAuthorizationFromRow(row) : null
}

/**
 * Approved device authorizations of a user that no device has collected yet (of one client, or all)
 * become denied: the device then hears access_denied instead of getting tokens for an approval
 * made before the user's access ended. Pending ones name no user yet; approving them takes a new
 * sign-in.
 */
export async function denyUncollectedDeviceAuthorizations(
  db: Executor,
  userId: string,
  clientId: string | null,
): Promise<void> {
  let query = db
    .updateTable('device_authorizations')
    .set({ status: 'denied' })
    .where('user_id', '=', userId)
    .where('status', '=', 'approved')
    .where('used_at', 'is', null)
  if (clientId !== null) query = query.where('client_id', '=', clientId)
  await query.execute()
}

/** Every device authorization of a client not yet collected, pending or approved, becomes denied (the client is deleted). */
export async function denyUncollectedDeviceAuthorizationsOfClient(db: Executor, clientId: string): Promise<void> {
  await db
    .updateTable('device_authorizations')
    .set({ status: 'denied' })
    .where('client_id', '=', clientId)
    .where('status', '!=', 'denied')
    .where('used_at', 'is', null)
    .execute()
}

/** Expired authorizations are useless; used ones are kept as long, so a replay meets invalid_grant. */
export async function deleteExpiredDeviceAuthorizations(db: Executor, before: number, limit: number): Promise<number> {
  const batch = db
    .selectFrom('device_authorizations')
    .select('device_code_hash')
    .where('expires_at', '<', before)
    .limit(limit)
  const result = await db.deleteFrom('device_authorizations').where('device_code_hash', 'in', batch).executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** Erasure: device sign-ins the user answered keep their outcome but not where they came from. */
export async function forgetDeviceAuthorizationOriginsOfUser(db: Executor, userId: string): Promise<void> {
  await db
    .updateTable('device_authorizations')
    .set({ ip: null, user_agent: null })
    .where('user_id', '=', userId)
    .execute()
}
