import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import {
  answerAuthorizationError,
  answerAuthorizationStep,
  browserOf,
  consentFormBinding,
  nextAuthorizationStep,
} from './authorization-flow.js'
import { AuthorizationRedirectError, parseAuthorizationRequest } from './authorization-request.js'
import { PageForm, pageResponses } from '../pages/page.schema.js'
import { sendPage } from '../pages/send-page.js'
import { isValidCsrfToken } from './csrf.js'
import { expiredFormPage, messagePage } from '../pages/message-page.js'
import { currentSignin } from './signin-session.js'
import { saveConsent } from '../consents/consent.store.js'

/** POST /consent: the user's answer on the consent page; "allow" is remembered per user and client. */
const consentPageRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.post('/consent', { schema: { body: PageForm, response: pageResponses } }, async (request, reply) => {
    const form = request.body
    try {
      if (form.authorize === undefined)
        return sendPage(
          reply,
          messagePage(
            'Sign-in problem',
            'This form does not belong to a sign-in. Go back to the app and try again.',
            400,
          ),
        )
      const authorization = await parseAuthorizationRequest(deps, form.authorize)
      const signin = await currentSignin(deps, request)
      // Signed out in between (another tab): sign in again, then the consent page comes back.
      if (signin === null) return answerAuthorizationStep(deps, request, reply, authorization, { kind: 'signin' })
      // The token says whether this sign-in happened in this very flow (see consentFormBinding); a
      // token of another request, another sign-in or a forged "fresh" claim is refused.
      const fresh = isValidCsrfToken(request, 'consent', form.csrf, consentFormBinding(authorization, signin, true))
      if (
        !fresh &&
        !isValidCsrfToken(request, 'consent', form.csrf, consentFormBinding(authorization, signin, false))
      ) {
        return sendPage(reply, expiredFormPage())
      }
      if (form.decision !== 'allow') {
        await recordAuditEvent(deps, {
          event: 'consent.denied',
          userId: signin.user.id,
          clientId: authorization.client.id,
          ip: request.ip,
        })
        throw new AuthorizationRedirectError(
          'access_denied',
          'the user denied the request',
          authorization.redirectUri,
          authorization.state,
        )
      }
      await saveConsent(
        deps.db,
        signin.user.id,
        authorization.client.id,
        authorization.scopes,
        authorization.audience,
        deps.clock.now(),
      )
      await recordAuditEvent(deps, {
        event: 'consent.granted',
        userId: signin.user.id,
        clientId: authorization.client.id,
        ip: request.ip,
        details: { scope: authorization.scopes.join(' '), audience: authorization.audience },
      })
      const step = await nextAuthorizationStep(deps, authorization, signin, {
        signedInForThisRequest: fresh,
        consentGiven: true,
        browser: browserOf(request),
      })
      return answerAuthorizationStep(deps, request, reply, authorization, step)
    } catch (error) {
      return answerAuthorizationError(deps, request, reply, error)
    }
  })
}

export default consentPageRoute
