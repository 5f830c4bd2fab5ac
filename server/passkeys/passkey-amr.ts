import type { Passkey } from './passkey.js'

/**
 * RFC 8176 methods of a passkey sign-in. User verification is always required, so the sign-in
 * combines possession of the key with a PIN or biometric check on the authenticator: `user` and
 * `mfa`. A backup-eligible (synced) key is a software-secured key (`swk`); a device-bound one a
 * hardware-secured key (`hwk`).
 */
export function passkeyAmr(passkey: Pick<Passkey, 'backupEligible'>): string[] {
  return [passkey.backupEligible ? 'swk' : 'hwk', 'user', 'mfa']
}
