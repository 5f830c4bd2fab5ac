import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import { bearerErrorResponse, toBearerErrorResponse } from './bearer-error.js'
import type { AccessTokenClaims, Verifier } from './create-verifier.js'
import { VerifierError } from './errors.js'
import { hasScopes } from './scope.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified access token's claims; null where the plugin did not run. */
    auth: AccessTokenClaims | null
  }
}

export interface LatchkeyAuthOptions {
  verifier: Verifier
  /** RFC 6750 §3 realm in the challenge. */
  realm?: string
  /**
   * This service's origin as clients address it (`https://notes.example.com`): the htu of every
   * DPoP proof must name it (RFC 9449 §4.3). Required unless `dpop` is false, because the request's
   * own Host header is the client's to choose.
   */
  origin?: string
  /** false: Bearer tokens only (a DPoP-bound token is refused) and no `origin` needed. Default true. */
  dpop?: boolean
}

/** The configured origin, checked once at registration. */
function originOf(options: LatchkeyAuthOptions): string | null {
  if (options.dpop === false) return null
  const origin = options.origin
  if (origin === undefined)
    throw new TypeError(
      "latchkeyAuth needs `origin`, this service's origin as clients address it (e.g. https://notes.example.com), to check DPoP proofs; pass `dpop: false` to accept Bearer tokens only",
    )
  const parsed = URL.canParse(origin) ? new URL(origin) : null
  if (parsed === null || !['http:', 'https:'].includes(parsed.protocol) || parsed.origin !== origin.replace(/\/$/, ''))
    throw new TypeError('latchkeyAuth `origin` must be a scheme and host only, e.g. https://notes.example.com')
  return parsed.origin
}

function send(reply: FastifyReply, answer: ReturnType<typeof bearerErrorResponse>): FastifyReply {
  return reply.code(answer.statusCode).headers(answer.headers).send(answer.body)
}

/**
 * Every route of the context the plugin is registered in requires a valid access token; its
 * claims are `request.auth`. Register it in an encapsulated context with the protected routes so
 * public routes elsewhere stay public. Failures answer RFC 6750 style, never a 500.
 */
async function latchkeyAuthPlugin(fastify: FastifyInstance, options: LatchkeyAuthOptions): Promise<void> {
  if (!fastify.hasRequestDecorator('auth')) fastify.decorateRequest('auth', null)
  const realm = options.realm === undefined ? {} : { realm: options.realm }
  const origin = originOf(options)
  fastify.addHook('onRequest', async (request, reply) => {
    try {
      request.auth = await options.verifier.authenticate(
        request.headers.authorization,
        origin === null
          ? undefined
          : { proof: request.headers.dpop, method: request.method, url: `${origin}${request.url.split('?')[0]}` },
      )
    } catch (error) {
      return send(reply, toBearerErrorResponse(error, realm))
    }
  })
}

// What fastify-plugin does, without the dependency: the hook and decorator apply to the context
// that registers the plugin rather than to a child of it.
Object.assign(latchkeyAuthPlugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@latchkey/verifier',
})

export const latchkeyAuth = latchkeyAuthPlugin

/** A preHandler that answers 403 insufficient_scope unless the token has every scope named. */
export function requireScope(...scopes: string[]): preHandlerAsyncHookHandler {
  return async function requireScopeHook(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
    // Also undefined when latchkeyAuth was not registered on this route's context: fail closed as 401.
    if (request.auth == null)
      return send(reply, bearerErrorResponse(new VerifierError('token_missing', 'no bearer token')))
    if (!hasScopes(request.auth, scopes)) {
      return send(
        reply,
        bearerErrorResponse(
          new VerifierError('insufficient_scope', 'the token lacks a required scope', { requiredScopes: scopes }),
        ),
      )
    }
  }
}
