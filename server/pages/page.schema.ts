import { Type } from '@sinclair/typebox'

/** Response schemas of the hosted pages: an HTML document, or a redirect without a body. */
export const pageResponses = {
  200: Type.String({ description: 'an HTML page' }),
  302: Type.Null({ description: 'a redirect to the app' }),
  303: Type.Null({ description: 'a redirect after a form post' }),
  400: Type.String({ description: 'an HTML error page' }),
  401: Type.String({ description: 'the sign-in page again, with the error' }),
  403: Type.String({ description: 'an HTML error page' }),
  429: Type.String({ description: 'the form again, with the error' }),
  500: Type.String({ description: 'an HTML error page' }),
  503: Type.String({ description: 'an HTML error page: too busy, retry later' }),
} as const

/** Every hosted form: short strings, unknown fields ignored. */
export const PageForm = Type.Object(
  {
    csrf: Type.Optional(Type.String({ maxLength: 100 })),
    authorize: Type.Optional(Type.String({ maxLength: 8192 })),
    email: Type.Optional(Type.String({ maxLength: 320 })),
    password: Type.Optional(Type.String({ maxLength: 1024 })),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    mfa_token: Type.Optional(Type.String({ maxLength: 256 })),
    code: Type.Optional(Type.String({ maxLength: 64 })),
    decision: Type.Optional(Type.String({ maxLength: 10 })),
    client_id: Type.Optional(Type.String({ maxLength: 200 })),
    post_logout_redirect_uri: Type.Optional(Type.String({ maxLength: 2000 })),
    /** A WebAuthn credential's JSON (PublicKeyCredential.toJSON()), posted by the passkey script. */
    passkey_response: Type.Optional(Type.String({ maxLength: 32768 })),
    passkey_id: Type.Optional(Type.String({ maxLength: 64 })),
    /** RFC 8628 §3.3: the code a device shows, as typed at /device. */
    user_code: Type.Optional(Type.String({ maxLength: 20 })),
    /** A sign-in that started at /device (authorize/device-continuation.ts). */
    device_user_code: Type.Optional(Type.String({ maxLength: 20 })),
  },
  { additionalProperties: true },
)
