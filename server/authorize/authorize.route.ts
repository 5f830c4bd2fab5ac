import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { pageResponses } from '../pages/page.schema.js'
import { currentSignin } from '../signin/signin-session.js'
import { answerAuthorizationError, answerAuthorizationStep, nextAuthorizationStep } from './authorization-flow.js'
import { parseAuthorizationRequest } from './authorization-request.js'

/**
 * GET /oauth/authorize (RFC 6749 §4.1.1 with RFC 7636 PKCE): a browser arrives from an app; a
 * signed-in user with consent goes straight back with a code, anyone else sees the hosted pages.
 */
const authorizeRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.get('/authorize', { schema: { response: pageResponses } }, async (request, reply) => {
    const at = request.url.indexOf('?')
    const query = at === -1 ? '' : request.url.slice(at + 1)
    try {
      const authorization = await parseAuthorizationRequest(deps, query)
      const signin = await currentSignin(deps, request)
      const step = await nextAuthorizationStep(deps, authorization, signin, { signedInForThisRequest: false, consentGiven: false })
      return answerAuthorizationStep(deps, request, reply, authorization, step, { email: signin?.user.email ?? null })
    } catch (error) {
      return answerAuthorizationError(deps, request, reply, error)
    }
  })
}

export default authorizeRoute
