import { Type } from '@sinclair/typebox'

// Passwords are bounded by bytes in password-policy.ts (1,024); this cap only keeps absurd
// bodies out of the validator and still lets that rule answer with its own message.
const password = Type.String({ minLength: 1, maxLength: 8192 })

export const Credentials = Type.Object({
  email: Type.String({ minLength: 1, maxLength: 512 }),
  password,
})

export const Registration = Type.Object({
  email: Type.String({ minLength: 1, maxLength: 512 }),
  password,
  name: Type.Optional(Type.String({ maxLength: 200 })),
})

export const PasswordChange = Type.Object({
  current_password: password,
  new_password: password,
})

export const UserView = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  email_verified: Type.Boolean(),
  created_at: Type.String(),
})

export const UserInfo = Type.Object({
  sub: Type.String(),
  email: Type.Optional(Type.String()),
  email_verified: Type.Optional(Type.Boolean()),
  name: Type.Optional(Type.String()),
})

export const Accepted = Type.Object({ status: Type.Literal('accepted'), message: Type.String() })

export const AccessTokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
})

export { ErrorResponse } from '../http/error-response.schema.js'

/** 401 of POST /auth/login: an error, or `mfa_required` with the mfa_token of the second step. */
export const MfaRequiredResponse = Type.Object({
  error: Type.String(),
  error_description: Type.String(),
  mfa_token: Type.Optional(Type.String()),
})

/** Emailed one-time tokens are 43 base64url characters; a little slack keeps the message ours, not the validator's. */
const mailedToken = Type.String({ minLength: 1, maxLength: 256 })

export const PasswordResetRequest = Type.Object({ email: Type.String({ minLength: 1, maxLength: 512 }) })

export const PasswordResetConfirmation = Type.Object({ token: mailedToken, password })

export const EmailVerification = Type.Object({ token: mailedToken })
