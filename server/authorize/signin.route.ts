import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import {
  answerAuthorizationError,
  answerAuthorizationStep,
  browserOf,
  enrolmentPath,
  nextAuthorizationStep,
} from './authorization-flow.js'
import { parseAuthorizationRequest, type AuthorizationRequest } from './authorization-request.js'
import { formActionSourceOf, matchRedirectUri } from './redirect-uri.js'
import { loginRateLimit, signupRateLimit } from '../http/rate-limit.js'
import { PageForm, pageResponses } from '../pages/page.schema.js'
import { sendPage } from '../pages/send-page.js'
import { assertLoginCapacity, authenticatePassword } from '../users/authenticate-password.js'
import { registerUser } from '../users/register-user.js'
import { issueCsrfToken, isValidCsrfToken, type FormPurpose } from './csrf.js'
import { asSentence, expiredFormPage, messagePage } from '../pages/message-page.js'
import { secondStepPage, signinPage, signoutPage, signupPage } from './signin-pages.js'
import {
  type CompletedSignin,
  createSecondStepPasskeyOptions,
  finishSecondStep,
  finishSecondStepWithPasskey,
  liveChallengeOf,
  secondFactorsOf,
  startSecondStep,
} from '../mfa/second-step.js'
import { hasCompletedSecondFactor, isSecondFactorDue } from '../mfa/mfa-policy.js'
import { ErrorResponse } from '../users/user.schema.js'
import type { User } from '../users/user.js'
import type { SigninProof } from '../users/signin-proof.js'
import { currentSignin, endSignin, startSignin } from './signin-session.js'
import { authenticatePasskey, createAuthenticationOptions } from '../passkeys/authenticate-passkey.js'
import { parsePasskeyResponse } from '../passkeys/parse-passkey-response.js'
import { RequestOptions } from '../passkeys/passkeys.schema.js'
import { devicePagePath, deviceSigninFieldOf } from './device-continuation.js'

/**
 * The hosted sign-in pages: /signin, /signup and /signout, plain HTML forms with CSRF tokens. With
 * an `authorize` field they are steps of an app's authorization request, which continues (consent
 * or a redirect back with a code) as soon as the user is signed in.
 */
const signinRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  /** The authorization request a page belongs to; null outside an app's sign-in. */
  const authorizationOf = async (authorize: string | undefined): Promise<AuthorizationRequest | null> =>
    authorize === undefined ? null : parseAuthorizationRequest(deps, authorize)

  const formContext = (
    request: FastifyRequest,
    reply: FastifyReply,
    purpose: FormPurpose,
    authorization: AuthorizationRequest | null,
  ) => ({
    csrf: issueCsrfToken(request, reply, purpose),
    authorize: authorization?.query ?? null,
    formActionOrigins: authorization ? [formActionSourceOf(authorization.redirectUri)] : [],
    deviceUserCode: deviceSigninFieldOf(request),
  })

  const showSignin = (
    request: FastifyRequest,
    reply: FastifyReply,
    authorization: AuthorizationRequest | null,
    values: Parameters<typeof signinPage>[2],
  ) =>
    sendPage(
      reply,
      signinPage(
        formContext(request, reply, 'signin', authorization),
        { clientName: authorization?.client.name ?? null },
        values,
      ),
    )

  const showSignup = (
    request: FastifyRequest,
    reply: FastifyReply,
    authorization: AuthorizationRequest | null,
    values: Omit<Parameters<typeof signupPage>[2], 'passwordMinLength'>,
  ) =>
    sendPage(
      reply,
      signupPage(
        formContext(request, reply, 'signup', authorization),
        { clientName: authorization?.client.name ?? null },
        { ...values, passwordMinLength: deps.config.passwordMinLength },
      ),
    )

  const hasSecondFactor = async (user: { id: string }) => (await secondFactorsOf(deps, user.id)).length > 0
  /** Whether the user behind a (still live) mfa_token has a passkey to offer on the second step. */
  const hasPasskey = async (mfaToken: string | undefined) => {
    try {
      const { user } = await liveChallengeOf(deps, mfaToken ?? '')
      return (await secondFactorsOf(deps, user.id)).includes('passkey')
    } catch {
      return false
    }
  }

  const showSecondStep = (
    request: FastifyRequest,
    reply: FastifyReply,
    authorization: AuthorizationRequest | null,
    values: Parameters<typeof secondStepPage>[2],
  ) =>
    sendPage(
      reply,
      secondStepPage(
        formContext(request, reply, 'signin_mfa', authorization),
        { clientName: authorization?.client.name ?? null },
        values,
      ),
    )

  /** Both steps done (or the only one): the hosted sign-in starts, and the app's request goes on. */
  const finishSignin = async (
    request: FastifyRequest,
    reply: FastifyReply,
    authorization: AuthorizationRequest | null,
    user: User,
    proof: { amr: string[]; authTime: number; password?: SigninProof['password'] },
    method: 'password' | 'passkey',
  ) => {
    const signin = await startSignin(deps, request, reply, user, proof)
    await recordAuditEvent(deps, {
      event: 'signin.succeeded',
      userId: user.id,
      clientId: authorization?.client.id ?? null,
      ip: request.ip,
      details: { method },
    })
    // LATCHKEY_MFA=required and no factor yet: this sign-in can set one up, nothing more.
    if (authorization === null && isSecondFactorDue(deps.config, null) && !hasCompletedSecondFactor(proof.amr))
      return reply.redirect(enrolmentPath(null), 303)
    const deviceField = deviceSigninFieldOf(request)
    if (authorization === null && deviceField !== null) return reply.redirect(devicePagePath(deviceField), 303)
    if (authorization === null)
      return sendPage(
        reply,
        messagePage('Signed in', `You are signed in as ${user.email}.`, 200, {
          href: '/signout',
          text: 'Sign out',
        }),
      )
    const step = await nextAuthorizationStep(deps, authorization, signin, {
      signedInForThisRequest: true,
      consentGiven: false,
      browser: browserOf(request),
    })
    return answerAuthorizationStep(deps, request, reply, authorization, step)
  }

  /**
   * A posted form of the sign-in pages: its CSRF token is checked before `handle` runs, and a
   * broken authorization request (its own or one found on the way) is answered as such.
   */
  const handleForm = async (
    request: FastifyRequest,
    reply: FastifyReply,
    form: { authorize?: string; csrf?: string },
    purpose: FormPurpose,
    handle: (authorization: AuthorizationRequest | null) => Promise<FastifyReply>,
  ) => {
    try {
      const authorization = await authorizationOf(form.authorize)
      if (!isValidCsrfToken(request, purpose, form.csrf)) return sendPage(reply, expiredFormPage())
      return await handle(authorization)
    } catch (error) {
      return answerAuthorizationError(deps, request, reply, error)
    }
  }

  /**
   * The second step's form, finished by `check` (a code from the authenticator app, a recovery
   * code, or a passkey). A dead mfa_token (expired, used, too many wrong codes) sends the user back
   * to the password; any other refusal shows the second step again.
   */
  const handleSecondStepForm = (
    request: FastifyRequest,
    reply: FastifyReply,
    form: { authorize?: string; csrf?: string; mfa_token?: string },
    check: (mfaToken: string) => Promise<CompletedSignin>,
    passkey: () => Promise<boolean>,
  ) =>
    handleForm(request, reply, form, 'signin_mfa', async (authorization) => {
      const mfaToken = form.mfa_token ?? ''
      let done
      try {
        done = await check(mfaToken)
      } catch (error) {
        if (!(error instanceof ApiError)) throw error
        // A throttled or busy answer keeps its status and Retry-After, whichever factor was tried.
        reply.headers(error.headers)
        const values = { error: asSentence(error.description), status: error.status }
        if (error.error === 'invalid_mfa_token') return showSignin(request, reply, authorization, values)
        return showSecondStep(request, reply, authorization, { ...values, mfaToken, passkey: await passkey() })
      }
      const proof = { amr: done.amr, authTime: done.authTime }
      return finishSignin(request, reply, authorization, done.user, proof, 'password')
    })

  const Query = {
    type: 'object',
    properties: { authorize: { type: 'string', maxLength: 8192 } },
    additionalProperties: true,
  } as const

  app.get('/signin', { schema: { querystring: Query, response: pageResponses } }, async (request, reply) => {
    try {
      return showSignin(request, reply, await authorizationOf(request.query.authorize), {})
    } catch (error) {
      return answerAuthorizationError(deps, request, reply, error)
    }
  })

  app.post(
    '/signin',
    {
      schema: { body: PageForm, response: pageResponses },
      config: { rateLimit: loginRateLimit },
      onRequest: async () => assertLoginCapacity(deps),
    },
    async (request, reply) => {
      const form = request.body
      return handleForm(request, reply, form, 'signin', async (authorization) => {
        let user, proof
        try {
          ;({ user, proof } = await authenticatePassword(
            deps,
            { email: form.email ?? '', password: form.password ?? '' },
            { ip: request.ip, hasSecondFactor },
          ))
        } catch (error) {
          if (!(error instanceof ApiError)) throw error
          reply.headers(error.headers)
          return showSignin(request, reply, authorization, {
            email: form.email ?? '',
            error: asSentence(error.description),
            status: error.status,
          })
        }
        const factors = await secondFactorsOf(deps, user.id)
        if (factors.length > 0) {
          const first = { amr: ['pwd'], authTime: proof.authTime, password: proof.password }
          const mfaToken = await startSecondStep(deps, user, first)
          return showSecondStep(request, reply, authorization, { mfaToken, passkey: factors.includes('passkey') })
        }
        const first = { amr: ['pwd'], authTime: proof.authTime, password: proof.password }
        return finishSignin(request, reply, authorization, user, first, 'password')
      })
    },
  )

  app.post(
    '/signin/mfa',
    { schema: { body: PageForm, response: pageResponses }, config: { rateLimit: loginRateLimit } },
    async (request, reply) =>
      handleSecondStepForm(
        request,
        reply,
        request.body,
        (mfaToken) => finishSecondStep(deps, mfaToken, request.body.code ?? '', { ip: request.ip }),
        () => hasPasskey(request.body.mfa_token),
      ),
  )

  // "Use a passkey" on the second step: options for the user named by the mfa_token, then the
  // authenticator's answer posted with the second step's form.
  app.post(
    '/signin/mfa/passkey/options',
    {
      schema: { body: PageForm, response: { ...pageResponses, 200: RequestOptions, 401: ErrorResponse } },
      config: { rateLimit: loginRateLimit },
    },
    async (request) => createSecondStepPasskeyOptions(deps, request.body.mfa_token ?? ''),
  )

  app.post(
    '/signin/mfa/passkey',
    { schema: { body: PageForm, response: pageResponses }, config: { rateLimit: loginRateLimit } },
    async (request, reply) =>
      handleSecondStepForm(
        request,
        reply,
        request.body,
        (mfaToken) =>
          finishSecondStepWithPasskey(deps, mfaToken, parsePasskeyResponse(request.body.passkey_response), {
            ip: request.ip,
          }),
        async () => true,
      ),
  )

  // Sign-in with a passkey: the page's script fetches request options, the authenticator answers,
  // and the answer is posted with the sign-in form's CSRF token and authorization request.
  app.post(
    '/signin/passkey/options',
    { schema: { response: { ...pageResponses, 200: RequestOptions } }, config: { rateLimit: loginRateLimit } },
    async () => createAuthenticationOptions(deps),
  )

  app.post(
    '/signin/passkey',
    { schema: { body: PageForm, response: pageResponses }, config: { rateLimit: loginRateLimit } },
    async (request, reply) => {
      const form = request.body
      return handleForm(request, reply, form, 'signin', async (authorization) => {
        let signedIn
        const authTime = deps.clock.now()
        try {
          signedIn = await authenticatePasskey(deps, parsePasskeyResponse(form.passkey_response), { ip: request.ip })
        } catch (error) {
          if (!(error instanceof ApiError)) throw error
          return showSignin(request, reply, authorization, {
            error: asSentence(error.description),
            status: error.status === 400 ? 400 : 401,
          })
        }
        return finishSignin(request, reply, authorization, signedIn.user, { amr: signedIn.amr, authTime }, 'passkey')
      })
    },
  )

  app.get('/signup', { schema: { querystring: Query, response: pageResponses } }, async (request, reply) => {
    try {
      return showSignup(request, reply, await authorizationOf(request.query.authorize), {})
    } catch (error) {
      return answerAuthorizationError(deps, request, reply, error)
    }
  })

  app.post(
    '/signup',
    {
      schema: { body: PageForm, response: pageResponses },
      config: { rateLimit: signupRateLimit },
      onRequest: async () => deps.passwordHasher.assertCapacity(),
    },
    async (request, reply) => {
      const form = request.body
      return handleForm(request, reply, form, 'signup', async (authorization) => {
        try {
          await registerUser(
            deps,
            { email: form.email ?? '', password: form.password ?? '', name: form.name },
            { ip: request.ip },
          )
        } catch (error) {
          if (!(error instanceof ApiError)) throw error
          return showSignup(request, reply, authorization, {
            email: form.email ?? '',
            name: form.name ?? '',
            error: asSentence(error.description),
            status: error.status,
          })
        }
        // The same answer whether the address was new or taken (ASVS 6.3.8): no account enumeration.
        return showSignin(request, reply, authorization, {
          email: form.email ?? '',
          info: 'Thank you. Sign in with your new password. If you already had an account with this address, use its existing password.',
        })
      })
    },
  )

  /** A post-logout redirect to one of the client's registered redirect URIs, or null. */
  const postLogoutRedirectOf = async (clientId: string | undefined, uri: string | undefined) => {
    if (clientId === undefined || uri === undefined || clientId.length > 128) return null
    const client = await deps.findClient(clientId)
    return client && matchRedirectUri(uri, client.redirectUris) ? { clientId, uri } : null
  }
  const SignoutQuery = {
    type: 'object',
    properties: {
      client_id: { type: 'string', maxLength: 200 },
      post_logout_redirect_uri: { type: 'string', maxLength: 2000 },
    },
    additionalProperties: true,
  } as const

  app.get('/signout', { schema: { querystring: SignoutQuery, response: pageResponses } }, async (request, reply) => {
    const signin = await currentSignin(deps, request)
    const postLogoutRedirect = await postLogoutRedirectOf(
      request.query.client_id,
      request.query.post_logout_redirect_uri,
    )
    const form = {
      csrf: issueCsrfToken(request, reply, 'signout'),
      authorize: null,
      formActionOrigins: postLogoutRedirect ? [formActionSourceOf(postLogoutRedirect.uri)] : [],
    }
    return sendPage(reply, signoutPage(form, { email: signin?.user.email ?? null, postLogoutRedirect }))
  })

  app.post('/signout', { schema: { body: PageForm, response: pageResponses } }, async (request, reply) => {
    const form = request.body
    if (!isValidCsrfToken(request, 'signout', form.csrf)) return sendPage(reply, expiredFormPage())
    const signin = await currentSignin(deps, request)
    await endSignin(deps, request, reply)
    if (signin) await recordAuditEvent(deps, { event: 'signin.ended', userId: signin.user.id, ip: request.ip })
    const postLogoutRedirect = await postLogoutRedirectOf(form.client_id, form.post_logout_redirect_uri)
    if (postLogoutRedirect) return reply.redirect(postLogoutRedirect.uri, 303)
    return sendPage(reply, messagePage('Signed out', 'You are signed out of Latchkey in this browser.'))
  })
}

export default signinRoute
