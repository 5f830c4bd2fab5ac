import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Client } from '../clients/client.js'
import type { Deps } from '../deps.js'
import { refuseMethodsOtherThanPost } from '../http/method-not-allowed.js'
import { UnsupportedGrantType } from '../errors.js'
import { authenticateClient } from '../http/client-auth.js'
import { assertFormBody } from '../http/form-body.js'
import { authorizationCodeGrant } from './grants/authorization-code.js'
import { clientCredentialsGrant } from './grants/client-credentials.js'
import { refreshTokenGrant } from './grants/refresh-token.js'
import { deviceCodeGrant } from './grants/device-code.js'
import { tokenExchangeGrant } from './grants/token-exchange.js'
import { DEVICE_CODE_GRANT, TOKEN_EXCHANGE_GRANT } from '../clients/client.js'
import { ErrorResponse, TokenRequest, TokenResponse } from './token.schema.js'
import { checkTokenRequestProof, type DpopBinding } from './dpop-token-request.js'

type Grant = (deps: Deps, client: Client, params: TokenRequest, dpop: DpopBinding) => Promise<TokenResponse>

const grants: Record<string, Grant> = {
  client_credentials: clientCredentialsGrant,
  refresh_token: refreshTokenGrant,
  authorization_code: authorizationCodeGrant,
  [DEVICE_CODE_GRANT]: deviceCodeGrant,
  [TOKEN_EXCHANGE_GRANT]: tokenExchangeGrant,
}

export const supportedGrantTypes = Object.keys(grants)

/** POST /oauth/token (RFC 6749 §3.2): form body, client authentication, then the grant's own checks. */
const tokenRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/token',
    {
      schema: {
        body: TokenRequest,
        response: { 200: TokenResponse, 400: ErrorResponse, 401: ErrorResponse },
      },
      preValidation: assertFormBody,
    },
    async (request, reply) => {
      const grant = Object.hasOwn(grants, request.body.grant_type) ? grants[request.body.grant_type] : undefined
      if (!grant) throw new UnsupportedGrantType(`grant_type ${request.body.grant_type} is not supported`)
      const client = await authenticateClient(deps, request.headers, request.body)
      const dpop = await checkTokenRequestProof(deps, request.headers, client)
      const response = await grant(deps, client, request.body, dpop)
      deps.metrics.tokensIssued.inc({ grant: request.body.grant_type })
      // RFC 6749 §5.1
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
      // RFC 9449 §8.2: the next nonce comes with each answer.
      if (dpop.jkt !== null && deps.config.dpopNonce) reply.header('dpop-nonce', deps.dpop.nonces.current())
      return response
    },
  )

  refuseMethodsOtherThanPost(app, '/token')
}

export default tokenRoute
