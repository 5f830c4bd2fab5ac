import { Type, type Static } from '@sinclair/typebox'

const param = (maxLength: number) => Type.String({ maxLength })

/** RFC 7521 §4.2 / RFC 7523 §2.2: private_key_jwt client authentication. */
const ClientAssertionParams = {
  client_assertion: Type.Optional(param(8192)),
  client_assertion_type: Type.Optional(param(200)),
}

/** RFC 6749 §4.4.2 / §6 / §4.1.3 parameters; unknown ones are ignored (RFC 6749 §3.2). */
export const TokenRequest = Type.Object(
  {
    grant_type: Type.String({ minLength: 1, maxLength: 100 }),
    scope: Type.Optional(param(2000)),
    // RFC 8707 allows several; we issue for one and say so (invalid_target) when given more.
    resource: Type.Optional(Type.Union([param(2000), Type.Array(param(2000), { maxItems: 10 })])),
    // Unbounded here (the body limit bounds it): a refresh token no one issued is invalid_grant
    // (RFC 6749 §5.2), whatever its length, not a schema error.
    refresh_token: Type.Optional(Type.String()),
    code: Type.Optional(param(200)),
    redirect_uri: Type.Optional(param(2000)),
    code_verifier: Type.Optional(param(200)),
    client_id: Type.Optional(param(200)),
    client_secret: Type.Optional(param(200)),
    // RFC 8628 §3.4
    device_code: Type.Optional(param(200)),
    // RFC 8693 §2.1
    subject_token: Type.Optional(param(8192)),
    subject_token_type: Type.Optional(param(200)),
    actor_token: Type.Optional(param(8192)),
    actor_token_type: Type.Optional(param(200)),
    requested_token_type: Type.Optional(param(200)),
    audience: Type.Optional(param(2000)),
    ...ClientAssertionParams,
  },
  { additionalProperties: true },
)
export type TokenRequest = Static<typeof TokenRequest>

/** RFC 6749 §5.1 */
export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Union([Type.Literal('Bearer'), Type.Literal('DPoP')]),
  expires_in: Type.Integer(),
  refresh_token: Type.Optional(Type.String()),
  scope: Type.Optional(Type.String()),
  id_token: Type.Optional(Type.String()),
  /** RFC 8693 §2.2.1 */
  issued_token_type: Type.Optional(Type.String()),
})
export type TokenResponse = Static<typeof TokenResponse>

export { ErrorResponse } from '../http/error-response.schema.js'

/** RFC 7009 §2.1 and RFC 7662 §2.1 */
export const TokenHandleRequest = Type.Object(
  {
    // Unbounded here (the body limit bounds it): an unknown token of any length is inactive
    // (RFC 7662 §2.2) or nothing to revoke (RFC 7009 §2.2), not a schema error.
    token: Type.String({ minLength: 1 }),
    token_type_hint: Type.Optional(param(100)),
    client_id: Type.Optional(param(200)),
    client_secret: Type.Optional(param(200)),
    ...ClientAssertionParams,
  },
  { additionalProperties: true },
)
export type TokenHandleRequest = Static<typeof TokenHandleRequest>

/** RFC 7662 §2.2: inactive tokens are exactly {"active": false}. */
export const IntrospectionResponse = Type.Object({
  active: Type.Boolean(),
  scope: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String()),
  token_type: Type.Optional(Type.String()),
  exp: Type.Optional(Type.Integer()),
  iat: Type.Optional(Type.Integer()),
  sub: Type.Optional(Type.String()),
  aud: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
  iss: Type.Optional(Type.String()),
  jti: Type.Optional(Type.String()),
  sid: Type.Optional(Type.String()),
  // RFC 9449 §6.2
  cnf: Type.Optional(Type.Object({ jkt: Type.String() })),
})
