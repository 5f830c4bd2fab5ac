// Every name an audit row can carry: one union of stable names (like verifier/src/errors.ts), so
// a query by type can rely on them and a typo fails to compile. Never rename one: operators filter
// and alert on these strings. Add new names at the end of their group.

export const auditEventNames = [
  // Accounts and sign-in
  'user.registered',
  'user.register_existing',
  'login.succeeded',
  'login.failed',
  'login.backoff',
  'signin.succeeded',
  'signin.ended',
  'password.changed',
  'password_change.failed',
  'password.reset',
  'password_reset.requested',
  'password_reset.throttled',
  'email.verified',
  'email.verification_sent',
  // Second factors: TOTP, recovery codes, passkeys
  'login.mfa_required',
  'login.mfa_enrolment_required',
  'mfa.succeeded',
  'mfa.failed',
  'mfa.recovery_code_used',
  'mfa.reauthentication_failed',
  'mfa.totp_added',
  'mfa.totp_removed',
  'mfa.recovery_codes_regenerated',
  'mfa.reset_by_operator',
  'passkey.added',
  'passkey.removed',
  'passkey_login.failed',
  // Sessions and tokens
  'session.logout',
  'session.logout_all',
  'session.revoked',
  'refresh.reused',
  'token.revoked',
  'authorization_code.reused',
  'consent.granted',
  'consent.denied',
  'consent.revoked',
  'device.approved',
  'device.denied',
  'token.exchanged',
  'token_exchange.failed',
  // Operators (CLI and admin API); details.actor says which, clientId names the acting admin client
  'user.created_by_admin',
  'user.disabled',
  'user.enabled',
  'user.deleted',
  'user.exported',
  'client.created',
  'client.updated',
  'client.deleted',
  'client.secret_rotated',
  'session.revoked_by_admin',
  'key.rotated',
] as const

export type AuditEventName = (typeof auditEventNames)[number]

export function isAuditEventName(name: string): name is AuditEventName {
  return (auditEventNames as readonly string[]).includes(name)
}
