import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Client } from '../clients/client.js'
import type { Deps } from '../deps.js'
import { InvalidRequest, MethodNotAllowed, UnsupportedGrantType } from '../errors.js'
import { authenticateClient } from '../http/client-auth.js'
import { clientCredentialsGrant } from './grants/client-credentials.js'
import { ErrorResponse, TokenRequest, TokenResponse } from './token.schema.js'

type Grant = (deps: Deps, client: Client, params: TokenRequest) => Promise<TokenResponse>

const grants: Record<string, Grant> = {
  client_credentials: clientCredentialsGrant,
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
      // RFC 6749 §3.2: the token endpoint takes form-encoded parameters; a JSON body is refused
      // before validation so the error says why.
      preValidation: async (request) => {
        if (!request.headers['content-type']?.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
          throw new InvalidRequest('the body must be application/x-www-form-urlencoded')
        }
      },
    },
    async (request, reply) => {
      const grant = Object.hasOwn(grants, request.body.grant_type) ? grants[request.body.grant_type] : undefined
      if (!grant) throw new UnsupportedGrantType(`grant_type ${request.body.grant_type} is not supported`)
      const client = await authenticateClient(deps, request.headers, request.body)
      const response = await grant(deps, client, request.body)
      // RFC 6749 §5.1
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
      return response
    },
  )

  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url: '/token',
    handler: async () => {
      throw new MethodNotAllowed('POST')
    },
  })
}

export default tokenRoute
