import { Type, type Static } from '@sinclair/typebox'

// The JSON forms of WebAuthn L3 (PublicKeyCredential.toJSON()), as @simplewebauthn/browser sends
// them. Lengths bound what we parse; the library checks the rest.
const b64url = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: '^[A-Za-z0-9_-]+={0,2}$' })
const openObject = Type.Object({}, { additionalProperties: true })

export const RegistrationResponse = Type.Object(
  {
    id: b64url(1400),
    rawId: b64url(1400),
    type: Type.Literal('public-key'),
    response: Type.Object(
      {
        clientDataJSON: b64url(4096),
        attestationObject: b64url(16384),
        transports: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 10 })),
      },
      { additionalProperties: true },
    ),
    clientExtensionResults: openObject,
    authenticatorAttachment: Type.Optional(Type.String({ maxLength: 32 })),
  },
  { additionalProperties: true },
)

export const AuthenticationResponse = Type.Object(
  {
    id: b64url(1400),
    rawId: b64url(1400),
    type: Type.Literal('public-key'),
    response: Type.Object(
      {
        clientDataJSON: b64url(4096),
        authenticatorData: b64url(4096),
        signature: b64url(1024),
        userHandle: Type.Optional(b64url(128)),
      },
      { additionalProperties: true },
    ),
    clientExtensionResults: openObject,
    authenticatorAttachment: Type.Optional(Type.String({ maxLength: 32 })),
  },
  { additionalProperties: true },
)

export const RegisterBody = Type.Object({
  response: RegistrationResponse,
  name: Type.Optional(Type.String({ maxLength: 100 })),
  /** Needed unless the sign-in is younger than 5 minutes, as for the other second factors. */
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 8192 })),
})
export type RegisterBody = Static<typeof RegisterBody>

export const LoginBody = Type.Object({ response: AuthenticationResponse })

const Descriptor = Type.Object({
  id: Type.String(),
  type: Type.String(),
  transports: Type.Optional(Type.Array(Type.String())),
})

/** PublicKeyCredentialCreationOptionsJSON: what navigator.credentials.create() needs, nothing more. */
export const CreationOptions = Type.Object({
  rp: Type.Object({ id: Type.Optional(Type.String()), name: Type.String() }),
  user: Type.Object({ id: Type.String(), name: Type.String(), displayName: Type.String() }),
  challenge: Type.String(),
  pubKeyCredParams: Type.Array(Type.Object({ alg: Type.Number(), type: Type.String() })),
  timeout: Type.Optional(Type.Number()),
  excludeCredentials: Type.Optional(Type.Array(Descriptor)),
  authenticatorSelection: Type.Optional(
    Type.Object({
      authenticatorAttachment: Type.Optional(Type.String()),
      residentKey: Type.Optional(Type.String()),
      requireResidentKey: Type.Optional(Type.Boolean()),
      userVerification: Type.Optional(Type.String()),
    }),
  ),
  hints: Type.Optional(Type.Array(Type.String())),
  attestation: Type.Optional(Type.String()),
  extensions: Type.Optional(openObject),
})

/** PublicKeyCredentialRequestOptionsJSON. */
export const RequestOptions = Type.Object({
  challenge: Type.String(),
  timeout: Type.Optional(Type.Number()),
  rpId: Type.Optional(Type.String()),
  allowCredentials: Type.Optional(Type.Array(Descriptor)),
  userVerification: Type.Optional(Type.String()),
  hints: Type.Optional(Type.Array(Type.String())),
  extensions: Type.Optional(openObject),
})

export const PasskeyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  created_at: Type.String(),
  last_used_at: Type.Union([Type.String(), Type.Null()]),
  backup_eligible: Type.Boolean(),
  backed_up: Type.Boolean(),
  transports: Type.Array(Type.String()),
})

export const PasskeyList = Type.Object({ passkeys: Type.Array(PasskeyView) })

export const PasskeyParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })
