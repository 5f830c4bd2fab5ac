import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { assertFormBody } from '../http/form-body.js'
import type { Deps } from '../deps.js'
import { pageResponses } from '../pages/page.schema.js'
import { currentSignin } from './signin-session.js'
import {
  answerAuthorizationError,
  answerAuthorizationStep,
  browserOf,
  nextAuthorizationStep,
} from './authorization-flow.js'
import { parseAuthorizationRequest } from './authorization-request.js'

/**
 * GET /oauth/authorize (RFC 6749 §4.1.1 with RFC 7636 PKCE): a browser arrives from an app; a
 * signed-in user with consent goes straight back with a code, anyone else sees the hosted pages.
 */
const authorizeRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const authorize = async (request: FastifyRequest, reply: FastifyReply, query: string) => {
    try {
      const authorization = await parseAuthorizationRequest(deps, query)
      const signin = await currentSignin(deps, request)
      const step = await nextAuthorizationStep(deps, authorization, signin, {
        signedInForThisRequest: false,
        consentGiven: false,
        browser: browserOf(request),
      })
      return answerAuthorizationStep(deps, request, reply, authorization, step, { email: signin?.user.email ?? null })
    } catch (error) {
      return answerAuthorizationError(deps, request, reply, error)
    }
  }

  app.get('/authorize', { schema: { response: pageResponses } }, async (request, reply) => {
    const at = request.url.indexOf('?')
    return authorize(request, reply, at === -1 ? '' : request.url.slice(at + 1))
  })

  // OIDC Core §3.1.2.1: the same request as a form post. A cross-site POST never carries the
  // SameSite=Lax sign-in cookie, so it always meets the sign-in page.
  app.post(
    '/authorize',
    {
      schema: {
        body: Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())])),
        response: pageResponses,
      },
      preValidation: assertFormBody,
    },
    async (request, reply) => {
      const query = new URLSearchParams()
      for (const [key, value] of Object.entries(request.body))
        for (const v of Array.isArray(value) ? value : [value]) query.append(key, v)
      return authorize(request, reply, query.toString())
    },
  )
}

export default authorizeRoute
