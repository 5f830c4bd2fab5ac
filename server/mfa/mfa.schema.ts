import { Type } from '@sinclair/typebox'

// Passwords are bounded in bytes by password-policy.ts; this cap only keeps absurd bodies out.
const password = Type.String({ minLength: 1, maxLength: 8192 })

/** Enrolment, regeneration and removal: the password, unless the sign-in is younger than 5 minutes. */
export const RecentSigninProof = Type.Object({ password: Type.Optional(password) })

export const TotpCode = Type.Object({ code: Type.String({ minLength: 1, maxLength: 64 }) })

export const TotpSetup = Type.Object({ secret: Type.String(), otpauth_uri: Type.String() })

export const RecoveryCodes = Type.Object({
  recovery_codes: Type.Array(Type.String(), { minItems: 10, maxItems: 10 }),
})

export const MfaStatusView = Type.Object({
  totp: Type.Boolean(),
  totp_added_at: Type.Union([Type.String(), Type.Null()]),
  recovery_codes_left: Type.Integer(),
})

export const SecondStep = Type.Object({
  mfa_token: Type.String({ minLength: 1, maxLength: 256 }),
  code: Type.String({ minLength: 1, maxLength: 64 }),
})
