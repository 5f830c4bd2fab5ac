import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { issueCsrfToken, isValidCsrfToken } from '../authorize/csrf.js'
import { currentSignin, type Signin } from '../authorize/signin-session.js'
import { asSentence, expiredFormPage } from '../pages/message-page.js'
import { PageForm, pageResponses } from '../pages/page.schema.js'
import { sendPage } from '../pages/send-page.js'
import { parseRegistrationResponse } from '../passkeys/parse-passkey-response.js'
import { CreationOptions } from '../passkeys/passkeys.schema.js'
import { findPasskeysOfUser } from '../passkeys/passkey.store.js'
import { createRegistrationOptions, registerPasskey } from '../passkeys/register-passkey.js'
import { removePasskey } from '../passkeys/remove-passkey.js'
import { securityPage } from './security-page.js'

/**
 * /account/security: the hosted page where a user signed in at Latchkey's pages manages their
 * passkeys. Every post carries a CSRF token bound to this browser's sign-in.
 */
const securityPageRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const show = async (
    request: FastifyRequest,
    reply: FastifyReply,
    signin: Signin,
    values: { error?: string; info?: string; status?: number } = {},
  ) =>
    sendPage(
      reply,
      securityPage(issueCsrfToken(request, reply, 'security', signin.id), {
        email: signin.user.email,
        passkeys: await findPasskeysOfUser(deps.db, signin.user.id),
        ...values,
      }),
    )

  /** The signed-in user of a post with a valid token, or the answer to send instead. */
  const signedInPost = async (request: FastifyRequest, reply: FastifyReply, csrf: string | undefined) => {
    const signin = await currentSignin(deps, request)
    if (signin === null) return { answer: reply.redirect('/signin', 303) }
    if (!isValidCsrfToken(request, 'security', csrf, signin.id)) return { answer: sendPage(reply, expiredFormPage()) }
    return { signin }
  }

  app.get('/account/security', { schema: { response: pageResponses } }, async (request, reply) => {
    const signin = await currentSignin(deps, request)
    if (signin === null) return reply.redirect('/signin', 303)
    return show(request, reply, signin)
  })

  app.post(
    '/account/security/passkeys/options',
    { schema: { body: PageForm, response: { ...pageResponses, 200: CreationOptions } } },
    async (request, reply) => {
      const { signin, answer } = await signedInPost(request, reply, request.body.csrf)
      if (!signin) return answer
      return createRegistrationOptions(deps, signin.user)
    },
  )

  app.post(
    '/account/security/passkeys',
    { schema: { body: PageForm, response: pageResponses } },
    async (request, reply) => {
      const { signin, answer } = await signedInPost(request, reply, request.body.csrf)
      if (!signin) return answer
      let passkey
      try {
        passkey = await registerPasskey(
          deps,
          signin.user,
          parseRegistrationResponse(request.body.passkey_response),
          request.body.name,
        )
      } catch (error) {
        if (!(error instanceof ApiError)) throw error
        return show(request, reply, signin, { error: asSentence(error.description), status: 400 })
      }
      await recordAuditEvent(deps, {
        event: 'passkey.added',
        userId: signin.user.id,
        ip: request.ip,
        details: { passkey_id: passkey.id },
      })
      return show(request, reply, signin, { info: `Passkey "${passkey.name}" added.` })
    },
  )

  app.post(
    '/account/security/passkeys/delete',
    { schema: { body: PageForm, response: pageResponses } },
    async (request, reply) => {
      const { signin, answer } = await signedInPost(request, reply, request.body.csrf)
      if (!signin) return answer
      let passkey
      try {
        passkey = await removePasskey(deps, signin.user.id, request.body.passkey_id ?? '')
      } catch (error) {
        if (!(error instanceof ApiError)) throw error
        return show(request, reply, signin, { error: asSentence(error.description), status: 400 })
      }
      await recordAuditEvent(deps, {
        event: 'passkey.removed',
        userId: signin.user.id,
        ip: request.ip,
        details: { passkey_id: passkey.id },
      })
      return show(request, reply, signin, { info: `Passkey "${passkey.name}" removed.` })
    },
  )
}

export default securityPageRoute
