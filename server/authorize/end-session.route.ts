import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Client } from '../clients/client.js'
import type { Deps } from '../deps.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { assertFormBody } from '../http/form-body.js'
import { pageResponses } from '../pages/page.schema.js'
import { sendPage } from '../pages/send-page.js'
import { expiredFormPage, messagePage } from '../pages/message-page.js'
import { endSession, endSigninAndItsSessions } from '../sessions/end-user-access.js'
import { findSessionById } from '../sessions/session.store.js'
import { buildRedirect } from './authorization-request.js'
import { issueCsrfToken, isValidCsrfToken } from './csrf.js'
import { InvalidIdTokenHint, verifyIdTokenHint, type IdTokenHint } from './id-token-hint.js'
import { logoutConfirmPage, type LogoutRequestFields } from './logout-pages.js'
import { formActionSourceOf } from './redirect-uri.js'
import { clearSigninCookie } from './signin-cookie.js'
import { currentSignin, type Signin } from './signin-session.js'

/** OIDC RP-Initiated Logout 1.0 §2: the request's parameters, by GET query or POST form. */
const LogoutParams = Type.Object(
  {
    id_token_hint: Type.Optional(Type.String({ maxLength: 8192 })),
    client_id: Type.Optional(Type.String({ maxLength: 200 })),
    post_logout_redirect_uri: Type.Optional(Type.String({ maxLength: 2000 })),
    state: Type.Optional(Type.String({ maxLength: 2000 })),
    logout_hint: Type.Optional(Type.String({ maxLength: 2000 })),
    ui_locales: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: true },
)
type LogoutParams = Static<typeof LogoutParams>

const ConfirmForm = Type.Object(
  {
    csrf: Type.Optional(Type.String({ maxLength: 100 })),
    client_id: Type.Optional(Type.String({ maxLength: 200 })),
    post_logout_redirect_uri: Type.Optional(Type.String({ maxLength: 2000 })),
    state: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: true },
)

/** A logout request that cannot be honoured: shown to the user, never redirected anywhere. */
class LogoutRequestError extends Error {}

/** Where the logout may return to, once checked: only a URI registered for the client, exactly. */
interface CheckedLogoutRequest {
  client: Client | null
  redirect: { uri: string; state: string | null } | null
  hint: IdTokenHint | null
}

/**
 * The end_session_endpoint (OpenID Connect RP-Initiated Logout 1.0), GET and POST (§2). With a
 * valid id_token_hint the user is signed out at once; without one a confirmation page asks first
 * (§6: a request anyone could forge is a denial of service). Signing out ends this browser's
 * hosted sign-in, the hinted session's sign-in, and the app sessions those sign-ins opened; each
 * app whose session ends is told through back-channel logout. Afterwards the browser goes to
 * `post_logout_redirect_uri` (with `state`) only if it equals one registered for the client (§3.1);
 * otherwise a page says the user is signed out. Never an open redirect.
 */
const endSessionRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const checkRequest = async (params: {
    hint: string | undefined
    clientId: string | undefined
    uri: string | undefined
    state: string | undefined
  }): Promise<CheckedLogoutRequest> => {
    let hint: IdTokenHint | null = null
    if (params.hint !== undefined) {
      try {
        hint = await verifyIdTokenHint(deps, params.hint)
      } catch (error) {
        if (error instanceof InvalidIdTokenHint) throw new LogoutRequestError(error.message)
        throw error
      }
    }
    // §2: when both are given, client_id must be the hint's audience.
    if (hint !== null && params.clientId !== undefined && params.clientId !== hint.clientId)
      throw new LogoutRequestError('client_id does not match the id_token_hint')
    const clientId = params.clientId ?? hint?.clientId
    const client = clientId === undefined ? null : await deps.findClient(clientId)
    if (clientId !== undefined && client === null) throw new LogoutRequestError('the app is not registered')
    if (params.uri === undefined) return { client, redirect: null, hint }
    if (client === null)
      throw new LogoutRequestError('post_logout_redirect_uri needs client_id or id_token_hint to name the app')
    // §3.1: "MUST NOT perform post-logout redirection if the post_logout_redirect_uri value supplied
    // does not exactly match one of the previously registered post_logout_redirect_uris values".
    if (!client.postLogoutRedirectUris.includes(params.uri))
      throw new LogoutRequestError('post_logout_redirect_uri is not registered for this app')
    return { client, redirect: { uri: params.uri, state: params.state ?? null }, hint }
  }

  /** Ends a hosted sign-in with what it opened, and records it. */
  const endSignin = async (request: FastifyRequest, signinId: string, userId: string, clientId: string | null) => {
    const now = deps.clock.now()
    const ended = await deps.db.transaction().execute((trx) => endSigninAndItsSessions(trx, signinId, now))
    await recordAuditEvent(deps, {
      event: 'signin.ended',
      userId,
      clientId,
      ip: request.ip,
      details: { via: 'rp_initiated_logout', sessions_ended: ended.length },
    })
  }

  const signOut = async (
    request: FastifyRequest,
    reply: FastifyReply,
    checked: CheckedLogoutRequest,
    browserSignin: Signin | null,
  ) => {
    const clientId = checked.client?.id ?? null
    const { hint } = checked
    let endedSignin: string | null = null
    if (hint !== null) {
      const session = await findSessionById(deps.db, hint.sessionId)
      if (session !== null && session.userId === hint.userId && session.clientId === hint.clientId) {
        endedSignin = session.signinSessionId
        if (endedSignin !== null) await endSignin(request, endedSignin, session.userId, clientId)
        // A session opened otherwise (no hosted sign-in behind it) still ends: the app asked.
        else await endSession(deps.db, session.id, 'rp_logout', deps.clock.now())
      }
    }
    // This browser's sign-in ends too, unless it is someone else's than the hint names. Without
    // the cookie (a cross-site POST) nothing says whose browser this is, so its cookie stays: any
    // ID token, the attacker's own included, would otherwise sign out every visitor. The hint's
    // sign-in has ended above, so a cookie left naming it is worthless.
    const someoneElse = browserSignin !== null && hint !== null && browserSignin.user.id !== hint.userId
    if (browserSignin !== null && !someoneElse) {
      if (browserSignin.id !== endedSignin) await endSignin(request, browserSignin.id, browserSignin.user.id, clientId)
      clearSigninCookie(reply)
    }
    if (checked.redirect !== null) {
      const location = buildRedirect(checked.redirect.uri, { state: checked.redirect.state })
      return reply
        .code(request.method === 'GET' ? 302 : 303)
        .header('location', location)
        .header('cache-control', 'no-store')
        .send()
    }
    return sendPage(reply, messagePage('Signed out', 'You are signed out of Latchkey in this browser.'))
  }

  const fieldsOf = (checked: CheckedLogoutRequest): LogoutRequestFields => ({
    clientId: checked.client?.id ?? null,
    postLogoutRedirectUri: checked.redirect?.uri ?? null,
    state: checked.redirect?.state ?? null,
  })
  /** The confirmation form's token covers the request it carries, so none of it can be swapped. */
  const confirmBinding = (fields: LogoutRequestFields) =>
    JSON.stringify([fields.clientId, fields.postLogoutRedirectUri, fields.state])

  const logout = async (request: FastifyRequest, reply: FastifyReply, params: LogoutParams) => {
    let checked: CheckedLogoutRequest
    try {
      checked = await checkRequest({
        hint: params.id_token_hint,
        clientId: params.client_id,
        uri: params.post_logout_redirect_uri,
        state: params.state,
      })
    } catch (error) {
      if (!(error instanceof LogoutRequestError)) throw error
      return sendPage(
        reply,
        messagePage('Sign-out problem', `The app's sign-out request is invalid: ${error.message}.`, 400),
      )
    }
    // A cross-site POST carries no SameSite=Lax sign-in cookie: only a GET sees who is signed in here.
    const browserSignin = await currentSignin(deps, request)
    if (checked.hint !== null) return signOut(request, reply, checked, browserSignin)
    const fields = fieldsOf(checked)
    const form = {
      csrf: issueCsrfToken(request, reply, 'logout', confirmBinding(fields)),
      formActionOrigins: checked.redirect ? [formActionSourceOf(checked.redirect.uri)] : [],
    }
    return sendPage(
      reply,
      logoutConfirmPage(form, {
        email: browserSignin?.user.email ?? null,
        clientName: checked.client?.name ?? null,
        request: fields,
      }),
    )
  }

  app.get('/logout', { schema: { querystring: LogoutParams, response: pageResponses } }, (request, reply) =>
    logout(request, reply, request.query),
  )

  app.post(
    '/logout',
    { schema: { body: LogoutParams, response: pageResponses }, preValidation: assertFormBody },
    (request, reply) => logout(request, reply, request.body),
  )

  // The confirmation page's form: same-origin, so the sign-in cookie comes along.
  app.post(
    '/logout/confirm',
    { schema: { body: ConfirmForm, response: pageResponses }, preValidation: assertFormBody },
    async (request, reply) => {
      const form = request.body
      let checked: CheckedLogoutRequest
      try {
        checked = await checkRequest({
          hint: undefined,
          clientId: form.client_id,
          uri: form.post_logout_redirect_uri,
          state: form.state,
        })
      } catch (error) {
        if (!(error instanceof LogoutRequestError)) throw error
        return sendPage(reply, expiredFormPage())
      }
      if (!isValidCsrfToken(request, 'logout', form.csrf, confirmBinding(fieldsOf(checked))))
        return sendPage(reply, expiredFormPage())
      return signOut(request, reply, checked, await currentSignin(deps, request))
    },
  )
}

export default endSessionRoute
