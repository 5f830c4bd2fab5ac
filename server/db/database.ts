import type { Kysely, Transaction } from 'kysely'
import type { KeyLifecycleLockTable, KeysDatabase, SigningKeysTable } from '../../keys/signing-key.table.js'
import type { ClientAssertionJtisTable, ClientCutOffsTable, ClientsTable } from '../clients/client.table.js'
import type { UsersTable } from '../users/user.table.js'
import type { RevokedAccessTokensTable } from '../sessions/revoked-access-token.table.js'
import type { RefreshTokensTable, SessionsTable } from '../sessions/session.table.js'
import type { AuditEventsTable } from '../audit/audit-event.table.js'
import type { AuthorizationCodesTable } from '../sessions/authorization-code.table.js'
import type { DeviceAuthorizationsTable } from '../sessions/device-authorization.table.js'
import type { ConsentsTable } from '../consents/consent.table.js'
import type { SigninSessionsTable } from '../sessions/signin-session.table.js'
import type { OutboxTable } from '../mail/outbox.table.js'
import type { AccountTokensTable } from '../users/account-token.table.js'
import type { MfaChallengesTable, RecoveryCodesTable, TotpFactorsTable } from '../mfa/mfa.table.js'
import type { AccessTokenLifetimesTable } from '../tokens/access-token-lifetime.table.js'
import type { PasskeysTable, WebauthnChallengesTable } from '../passkeys/passkey.table.js'
import type { DpopProofJtisTable } from '../tokens/dpop-proof-jti.table.js'
import type { BackchannelLogoutsTable } from '../sessions/backchannel-logout.table.js'

export interface Database {
  signing_keys: SigningKeysTable
  key_lifecycle_lock: KeyLifecycleLockTable
  clients: ClientsTable
  client_cut_offs: ClientCutOffsTable
  client_assertion_jtis: ClientAssertionJtisTable
  users: UsersTable
  sessions: SessionsTable
  refresh_tokens: RefreshTokensTable
  revoked_access_tokens: RevokedAccessTokensTable
  audit_events: AuditEventsTable
  authorization_codes: AuthorizationCodesTable
  consents: ConsentsTable
  signin_sessions: SigninSessionsTable
  outbox: OutboxTable
  email_verification_tokens: AccountTokensTable
  password_reset_tokens: AccountTokensTable
  totp_factors: TotpFactorsTable
  recovery_codes: RecoveryCodesTable
  mfa_challenges: MfaChallengesTable
  passkeys: PasskeysTable
  webauthn_challenges: WebauthnChallengesTable
  device_authorizations: DeviceAuthorizationsTable
  dpop_proof_jtis: DpopProofJtisTable
  access_token_lifetimes: AccessTokenLifetimesTable
  backchannel_logouts: BackchannelLogoutsTable
}

export type Db = Kysely<Database>

/**
 * keys/ owns its tables and knows nothing of the rest of the schema. Database contains them, but
 * Kysely's type is invariant in its schema, so handing the same instance to keys/ is a cast.
 */
export function keysDb(db: Db | Transaction<Database>): Kysely<KeysDatabase> {
  return db as unknown as Kysely<KeysDatabase>
}
