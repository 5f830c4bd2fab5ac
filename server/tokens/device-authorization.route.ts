import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { Deps } from '../deps.js'
import { DEVICE_CODE_GRANT } from '../clients/client.js'
import { resolveAudience } from '../clients/audience.js'
import { grantScopes } from '../clients/scope.js'
import { UnauthorizedClient } from '../errors.js'
import type { AuthenticateClient } from '../http/client-auth-budget.js'
import { assertFormBody } from '../http/form-body.js'
import { refuseMethodsOtherThanPost } from '../http/method-not-allowed.js'
import { deviceAuthorizationRateLimit } from '../http/rate-limit.js'
import { generateOpaqueToken, hashOpaqueToken } from '../opaque-token.js'
import { insertDeviceAuthorization } from '../sessions/device-authorization.store.js'
import { generateUserCode, hashUserCode, normalizeUserCode } from '../sessions/user-code.js'
import { ErrorResponse } from './token.schema.js'

/** RFC 8628 §3.2: "expires_in"; ten minutes to walk to another screen and sign in. */
const DEVICE_CODE_TTL_MS = 10 * 60_000
/** RFC 8628 §3.2: "interval", 5 s being the RFC's default. */
const DEVICE_POLL_INTERVAL_S = 5
/** The path of the hosted page where users enter the code. */
const DEVICE_VERIFICATION_PATH = '/device'

const DeviceAuthorizationRequest = Type.Object(
  {
    client_id: Type.Optional(Type.String({ maxLength: 200 })),
    client_secret: Type.Optional(Type.String({ maxLength: 200 })),
    scope: Type.Optional(Type.String({ maxLength: 2000 })),
    resource: Type.Optional(
      Type.Union([Type.String({ maxLength: 2000 }), Type.Array(Type.String({ maxLength: 2000 }), { maxItems: 10 })]),
    ),
  },
  { additionalProperties: true },
)

/** RFC 8628 §3.2 */
const DeviceAuthorizationResponse = Type.Object({
  device_code: Type.String(),
  user_code: Type.String(),
  verification_uri: Type.String(),
  verification_uri_complete: Type.String(),
  expires_in: Type.Integer(),
  interval: Type.Integer(),
})

/**
 * POST /oauth/device_authorization (RFC 8628 §3.1): a device without a browser asks for a sign-in.
 * It gets an opaque device code to poll the token endpoint with and a short user code the user
 * types at /device; both are stored only as hashes.
 */
const deviceAuthorizationRoute: FastifyPluginAsyncTypebox<{ deps: Deps; authenticate: AuthenticateClient }> = async (
  app,
  { deps, authenticate },
) => {
  app.post(
    '/device_authorization',
    {
      schema: {
        body: DeviceAuthorizationRequest,
        response: { 200: DeviceAuthorizationResponse, 400: ErrorResponse, 401: ErrorResponse, 429: ErrorResponse },
      },
      config: { rateLimit: deviceAuthorizationRateLimit },
      preValidation: assertFormBody,
    },
    async (request, reply) => {
      const client = await authenticate(request, request.body)
      if (!client.grantTypes.includes(DEVICE_CODE_GRANT))
        throw new UnauthorizedClient('this client may not use the device authorization grant')
      const scopes = grantScopes(request.body.scope, client.scopes)
      const audience = resolveAudience(request.body.resource, client, deps.config.defaultAudience)
      const deviceCode = generateOpaqueToken()
      const now = deps.clock.now()
      let userCode: string
      // A clash with a live code is rare (see docs/device-sign-in.md); draw again rather than share.
      for (;;) {
        userCode = generateUserCode()
        const inserted = await insertDeviceAuthorization(deps.db, {
          deviceCodeHash: hashOpaqueToken(deviceCode),
          userCodeHash: hashUserCode(normalizeUserCode(userCode)!),
          clientId: client.id,
          scopes,
          audience,
          intervalS: DEVICE_POLL_INTERVAL_S,
          createdAt: now,
          expiresAt: now + DEVICE_CODE_TTL_MS,
        })
        if (inserted) break
      }
      const verificationUri = `${deps.config.issuer}${DEVICE_VERIFICATION_PATH}`
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
      return {
        device_code: deviceCode,
        user_code: userCode,
        verification_uri: verificationUri,
        verification_uri_complete: `${verificationUri}?${new URLSearchParams({ user_code: userCode }).toString()}`,
        expires_in: DEVICE_CODE_TTL_MS / 1000,
        interval: DEVICE_POLL_INTERVAL_S,
      }
    },
  )

  refuseMethodsOtherThanPost(app, '/device_authorization')
}

export default deviceAuthorizationRoute
