import { Type, type TSchema } from '@sinclair/typebox'
import { auditEventNames } from '../audit/audit-event-name.js'
import { grantTypes } from '../clients/client.js'

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])
const Uri = Type.String({ minLength: 1, maxLength: 2000 })

export { ErrorResponse } from '../http/error-response.schema.js'

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) })

const Page = {
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
  // Query strings are not coerced: the number is checked by parseLimit.
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })),
}

export const PageQuery = Type.Object(Page, { additionalProperties: false })

const pageOf = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), next_cursor: Nullable(Type.String()) })

export const ClientView = Type.Object({
  client_id: Type.String(),
  name: Type.String(),
  type: Type.Union([Type.Literal('confidential'), Type.Literal('public')]),
  grant_types: Type.Array(Type.String()),
  scope: Type.String(),
  audiences: Type.Array(Type.String()),
  redirect_uris: Type.Array(Type.String()),
  first_party: Type.Boolean(),
  token_endpoint_auth_method: Type.Union([
    Type.Literal('client_secret_basic'),
    Type.Literal('private_key_jwt'),
    Type.Literal('none'),
  ]),
  jwks_uri: Nullable(Type.String()),
  jwks: Nullable(Type.Object({ keys: Type.Array(Type.Object({}, { additionalProperties: true })) })),
  require_dpop: Type.Boolean(),
  introspection: Type.Boolean(),
  post_logout_redirect_uris: Type.Array(Type.String()),
  backchannel_logout_uri: Nullable(Type.String()),
  require_mfa: Type.Boolean(),
  created_at: Type.String(),
})

/** private_key_jwt (RFC 7523 §2.2): the client's public keys, by URL or inline; at most one. */
const ClientKeys = {
  jwks_uri: Type.Optional(Uri),
  jwks: Type.Optional(
    Type.Object(
      { keys: Type.Array(Type.Object({}, { additionalProperties: true }), { minItems: 1, maxItems: 10 }) },
      { additionalProperties: true },
    ),
  ),
}

/** Creation shows the secret (confidential clients) once. */
export const ClientWithSecret = Type.Composite([
  ClientView,
  Type.Object({ client_secret: Type.Optional(Type.String()) }),
])

/** Rotation shows the new secret once, and until when the old one works (null: it ended). */
export const RotatedClient = Type.Composite([
  ClientView,
  Type.Object({ client_secret: Type.String(), previous_secret_expires_at: Nullable(Type.String()) }),
])

export const ClientPage = pageOf(ClientView)

const GrantType = Type.Union(grantTypes.map((g) => Type.Literal(g)))

export const ClientCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    grant_types: Type.Array(GrantType, { minItems: 1, maxItems: 3 }),
    scope: Type.String({ maxLength: 2000 }),
    audiences: Type.Optional(Type.Array(Uri, { maxItems: 20 })),
    redirect_uris: Type.Optional(Type.Array(Uri, { maxItems: 20 })),
    type: Type.Optional(Type.Union([Type.Literal('confidential'), Type.Literal('public')])),
    first_party: Type.Optional(Type.Boolean()),
    ...ClientKeys,
    require_dpop: Type.Optional(Type.Boolean()),
    introspection: Type.Optional(Type.Boolean()),
    post_logout_redirect_uris: Type.Optional(Type.Array(Uri, { maxItems: 20 })),
    backchannel_logout_uri: Type.Optional(Nullable(Uri)),
    require_mfa: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

export const ClientUpdate = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    grant_types: Type.Optional(Type.Array(GrantType, { minItems: 1, maxItems: 3 })),
    scope: Type.Optional(Type.String({ maxLength: 2000 })),
    audiences: Type.Optional(Type.Array(Uri, { maxItems: 20 })),
    redirect_uris: Type.Optional(Type.Array(Uri, { maxItems: 20 })),
    first_party: Type.Optional(Type.Boolean()),
    ...ClientKeys,
    require_dpop: Type.Optional(Type.Boolean()),
    introspection: Type.Optional(Type.Boolean()),
    post_logout_redirect_uris: Type.Optional(Type.Array(Uri, { maxItems: 20 })),
    /** null removes it. */
    backchannel_logout_uri: Type.Optional(Nullable(Uri)),
    require_mfa: Type.Optional(Type.Boolean()),
    /** With new keys: void what the old credentials obtained, as secret rotation's revoke_old. */
    revoke_old: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
)

export const SecretRotation = Type.Object(
  { revoke_old: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
)

export const Deleted = Type.Object({ deleted: Type.String(), sessions_revoked: Type.Integer() })

export const UserView = Type.Object({
  id: Type.String(),
  email: Nullable(Type.String()),
  name: Nullable(Type.String()),
  email_verified: Type.Boolean(),
  disabled: Type.Boolean(),
  created_at: Type.String(),
  erased_at: Nullable(Type.String()),
})

export const UserPage = pageOf(UserView)

export const UserQuery = Type.Object(
  {
    email: Type.Optional(Type.String({ minLength: 1, maxLength: 320 })),
    disabled: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
    ...Page,
  },
  { additionalProperties: false },
)

export const UserUpdate = Type.Object({ disabled: Type.Boolean() }, { additionalProperties: false })

export const UserUpdated = Type.Composite([UserView, Type.Object({ sessions_revoked: Type.Integer() })])

const SessionView = Type.Object({
  id: Type.String(),
  user_id: Type.String(),
  client_id: Type.String(),
  scope: Type.String(),
  created_at: Type.String(),
  last_used_at: Type.String(),
  expires_at: Type.String(),
  revoked_at: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  user_agent: Nullable(Type.String()),
})

export const SessionQuery = Type.Object(
  { user_id: Type.String({ minLength: 1, maxLength: 128 }) },
  { additionalProperties: false },
)

export const SessionList = Type.Object({ items: Type.Array(SessionView), next_cursor: Type.Null() })

export const Revoked = Type.Object({ revoked: Type.String() })

const AuditEventView = Type.Object({
  id: Type.String(),
  type: Type.String(),
  user_id: Nullable(Type.String()),
  client_id: Nullable(Type.String()),
  session_id: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  details: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()])),
  created_at: Type.String(),
})

export const AuditPage = pageOf(AuditEventView)

export const AuditQuery = Type.Object(
  {
    type: Type.Optional(Type.Union(auditEventNames.map((n) => Type.Literal(n)))),
    user_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    since: Type.Optional(Type.String({ minLength: 2, maxLength: 40 })),
    ...Page,
  },
  { additionalProperties: false },
)

export const UserExport = Type.Object({
  user: UserView,
  sessions: Type.Array(SessionView),
  consents: Type.Array(
    Type.Object({
      client_id: Type.String(),
      scope: Type.String(),
      audiences: Type.Array(Type.String()),
      created_at: Type.String(),
      updated_at: Type.String(),
    }),
  ),
  passkeys: Type.Array(
    Type.Object({
      id: Type.String(),
      name: Type.String(),
      credential_id: Type.String(),
      transports: Type.Array(Type.String()),
      backup_eligible: Type.Boolean(),
      backed_up: Type.Boolean(),
      created_at: Type.String(),
      last_used_at: Nullable(Type.String()),
    }),
  ),
  mfa: Type.Object({ totp_enrolled_at: Nullable(Type.String()), recovery_codes_remaining: Type.Number() }),
  audit_events: Type.Array(AuditEventView),
})

const KeyView = Type.Object({
  kid: Type.String(),
  alg: Type.String(),
  state: Type.String(),
  created_at: Nullable(Type.String()),
  activated_at: Nullable(Type.String()),
  retired_at: Nullable(Type.String()),
  published_until: Nullable(Type.String()),
  removed_at: Nullable(Type.String()),
})

export const KeyList = Type.Object({ items: Type.Array(KeyView), next_cursor: Type.Null() })

export const KeyRotation = Type.Object(
  { revoke_current: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
)

export const RotationResult = Type.Object({
  activated: Type.String(),
  retired: Nullable(Type.String()),
  revoked: Type.Boolean(),
  publishedBriefly: Type.Boolean(),
})

/** DELETE /admin/users/:id/mfa: which factors went ("totp", "passkey") and how many sessions ended. */
export const MfaReset = Type.Object({
  id: Type.String(),
  email: Type.String(),
  factors_removed: Type.Array(Type.String()),
  sessions_revoked: Type.Integer(),
})
