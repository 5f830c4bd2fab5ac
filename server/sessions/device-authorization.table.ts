import type { Selectable } from 'kysely'

/** RFC 8628 §3.2: a device's pending sign-in; both codes stored only as hashes. */
export interface DeviceAuthorizationsTable {
  /** sha256 of the device code, base64url. */
  device_code_hash: string
  /** sha256 of the normalised user code (8 letters, upper case), base64url. */
  user_code_hash: string
  client_id: string
  /** Space-separated scopes requested. */
  scope: string
  audience: string
  status: 'pending' | 'approved' | 'denied'
  /** Who approved (or denied), with how and when they signed in. */
  user_id: string | null
  /** JSON array of authentication methods (RFC 8176). */
  amr: string | null
  auth_time: number | null
  ip: string | null
  user_agent: string | null
  /** RFC 8628 §3.5: seconds between polls; slow_down adds 5. */
  interval_s: number
  last_polled_at: number | null
  created_at: number
  expires_at: number
  used_at: number | null
}

export type DeviceAuthorizationRow = Selectable<DeviceAuthorizationsTable>
