import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import type { Client } from '../clients/client.js'
import type { Deps } from '../deps.js'
import { refuseMethodsOtherThanPost } from '../http/method-not-allowed.js'
import { ServiceUnavailable, UnsupportedGrantType } from '../errors.js'
import { ipGroupOf, rateLimited, TOKEN_RATE_LIMIT_WINDOW_MS } from '../http/rate-limit.js'
import type { AuthenticateClient } from '../http/client-auth-budget.js'
import { assertFormBody } from '../http/form-body.js'
import { authorizationCodeGrant } from './grants/authorization-code.js'
import { clientCredentialsGrant } from './grants/client-credentials.js'
import { refreshTokenGrant } from './grants/refresh-token.js'
import { deviceCodeGrant } from './grants/device-code.js'
import { tokenExchangeGrant } from './grants/token-exchange.js'
import { DEVICE_CODE_GRANT, TOKEN_EXCHANGE_GRANT } from '../clients/client.js'
import { tokensValidFrom } from '../clients/client-lookup.js'
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

/**
 * Device polls are paced by the device grant itself (RFC 8628 §3.5: `interval`, then `slow_down`),
 * per device code; a device told 429 instead would give up rather than slow down.
 */
const unbudgetedGrants = new Set([DEVICE_CODE_GRANT])

/** POST /oauth/token (RFC 6749 §3.2): form body, client authentication, then the grant's own checks. */
const tokenRoute: FastifyPluginAsyncTypebox<{ deps: Deps; authenticate: AuthenticateClient }> = async (
  app,
  { deps, authenticate },
) => {
  const limits = createClientBudget(app, deps.config.tokenRateLimits.perClient)
  app.post(
    '/token',
    {
      schema: {
        body: TokenRequest,
        response: { 200: TokenResponse, 400: ErrorResponse, 401: ErrorResponse, 429: ErrorResponse },
      },
      preValidation: assertFormBody,
    },
    async (request, reply) => {
      const grant = Object.hasOwn(grants, request.body.grant_type) ? grants[request.body.grant_type] : undefined
      if (!grant) throw new UnsupportedGrantType(`grant_type ${request.body.grant_type} is not supported`)
      // Failed client authentications count per source, shared with every route that authenticates
      // clients (http/client-auth-budget.ts).
      const client = await authenticate(request, request.body)
      assertClientNotCutOff(client, deps.clock.now())
      if (!unbudgetedGrants.has(request.body.grant_type)) await limits.spendClientBudget(request, client)
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

/**
 * A client whose credentials were ended at once (revoke_old) gets no token until
 * tokensValidFrom(cut-off): one issued before then is void from the start (verify-access-token.ts),
 * as another instance may still have taken the old credentials from its cache. 503 with
 * Retry-After, so a client that just switched to its new credentials retries instead of holding a
 * dead token.
 */
function assertClientNotCutOff(client: Client, now: number): void {
  if (client.cutOffAt === null) return
  const validFrom = tokensValidFrom(client.cutOffAt)
  if (now >= validFrom) return
  throw new ServiceUnavailable(
    "this client's credentials were just replaced; tokens are issued again shortly",
    Math.max(1, Math.ceil((validFrom - now) / 1000)),
  )
}

/**
 * The per-client budget of /oauth/token, counted by @fastify/rate-limit (in Redis when REDIS_URL is
 * set, so it holds across instances): every request of an authenticated client, a confidential
 * client by its id (only it can spend its budget), a public client, which anyone can name, by client
 * and source, as /oauth/revoke does. The per-source budget of failed client authentications is
 * http/client-auth-budget.ts. A budget of 0 is off, and LATCHKEY_RATE_LIMITS=false turns it off
 * (the plugin's allow-list).
 */
function createClientBudget(app: Parameters<FastifyPluginAsyncTypebox>[0], perClient: number) {
  const budgetKey = new WeakMap<FastifyRequest, string>()
  const limiter =
    perClient > 0
      ? app.createRateLimit({
          max: perClient,
          timeWindow: TOKEN_RATE_LIMIT_WINDOW_MS,
          keyGenerator: (request) => `token-client:${budgetKey.get(request) ?? ''}`,
        })
      : null
  return {
    async spendClientBudget(request: FastifyRequest, client: Client): Promise<void> {
      if (!limiter) return
      budgetKey.set(request, client.type === 'public' ? `${client.id}:${ipGroupOf(request.ip)}` : client.id)
      const limit = await limiter(request)
      if (!limit.isAllowed && limit.isExceeded) throw rateLimited(limit.ttl)
    },
  }
}

export default tokenRoute
