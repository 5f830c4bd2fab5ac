import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Deps } from '../deps.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { saveConsent } from '../consents/consent.store.js'
import { deviceCodeRateLimit } from '../http/rate-limit.js'
import { expiredFormPage, messagePage } from '../pages/message-page.js'
import { PageForm, pageResponses } from '../pages/page.schema.js'
import { sendPage } from '../pages/send-page.js'
import { decideDeviceAuthorization, findPendingDeviceAuthorization } from '../sessions/device-authorization.store.js'
import { formatUserCode, hashUserCode, normalizeUserCode } from '../sessions/user-code.js'
import { issueCsrfToken, isValidCsrfToken } from './csrf.js'
import { deviceSigninField } from './device-continuation.js'
import { deviceCodePage, deviceConsentPage } from './device-pages.js'
import { describeScopes } from './scope-descriptions.js'
import { secondStepPage, signinPage } from './signin-pages.js'
import { enrolmentPath } from './authorization-flow.js'
import { hasCompletedSecondFactor, isSecondFactorDue } from '../mfa/mfa-policy.js'
import { secondFactorsOf, startSecondStep } from '../mfa/second-step.js'
import { currentSignin, type Signin } from './signin-session.js'
import { userAgentOf } from '../http/user-agent.js'

const unknownCode = 'That code is not valid or has expired. Check the code on your device, or start again there.'

/** The approval form's token covers the code and the sign-in: it cannot approve another device. */
const consentBinding = (letters: string, signin: Signin) => JSON.stringify([letters, signin.id])

/**
 * The hosted page of RFC 8628 §3.3 (`verification_uri` /device, `verification_uri_complete` with
 * ?user_code=): the user signs in with the normal hosted sign-in if needed, types the code (entry is
 * rate-limited per IP, see docs/device-sign-in.md), sees which app asks for what and allows or
 * denies. Every form is CSRF-protected; the code is looked up only on a POST.
 */
const devicePageRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  /** The hosted sign-in page, coming back to /device (with the code) when done. */
  const showSignin = (request: FastifyRequest, reply: FastifyReply, typed: string | undefined) =>
    sendPage(
      reply,
      signinPage(
        { csrf: issueCsrfToken(request, reply, 'signin'), authorize: null, deviceUserCode: deviceSigninField(typed) },
        { clientName: null },
        {},
      ),
    )

  const showCodeEntry = (
    request: FastifyRequest,
    reply: FastifyReply,
    signin: Signin,
    values: { userCode?: string; error?: string; status?: number },
  ) =>
    sendPage(
      reply,
      deviceCodePage({ csrf: issueCsrfToken(request, reply, 'device') }, { userEmail: signin.user.email, ...values }),
    )

  /**
   * As /oauth/authorize does (authorization-flow.ts): under LATCHKEY_MFA=required or for a client
   * registered with --require-mfa, a sign-in without a completed second factor approves nothing.
   * A user with a factor takes the second step (and comes back to /device with the code); one
   * without is sent to set one up. Null when the sign-in may go on.
   */
  const secondFactorGate = async (
    request: FastifyRequest,
    reply: FastifyReply,
    signin: Signin,
    client: { requireMfa: boolean },
    letters: string,
  ) => {
    if (!isSecondFactorDue(deps.config, client) || hasCompletedSecondFactor(signin.amr)) return null
    const factors = await secondFactorsOf(deps, signin.user.id)
    if (factors.length === 0) return reply.redirect(enrolmentPath(null), 303)
    const mfaToken = await startSecondStep(deps, signin.user, { amr: signin.amr, authTime: signin.authTime })
    return sendPage(
      reply,
      secondStepPage(
        {
          csrf: issueCsrfToken(request, reply, 'signin_mfa'),
          authorize: null,
          deviceUserCode: deviceSigninField(letters),
        },
        { clientName: null },
        { mfaToken, passkey: factors.includes('passkey') },
      ),
    )
  }

  /** The pending authorization a typed code names, with its client; null for anything else. */
  const pendingOf = async (typed: string | undefined) => {
    const letters = typed === undefined ? null : normalizeUserCode(typed)
    if (letters === null) return null
    const authorization = await findPendingDeviceAuthorization(deps.db, hashUserCode(letters), deps.clock.now())
    const client = authorization === null ? null : await deps.findClient(authorization.clientId)
    return authorization && client ? { letters, authorization, client } : null
  }

  app.get(
    '/device',
    {
      schema: {
        querystring: Type.Object({ user_code: Type.Optional(Type.String({ maxLength: 20 })) }),
        response: pageResponses,
      },
    },
    async (request, reply) => {
      const typed = request.query.user_code
      const signin = await currentSignin(deps, request)
      if (signin === null) return showSignin(request, reply, typed)
      const letters = typed === undefined ? null : normalizeUserCode(typed)
      return showCodeEntry(request, reply, signin, letters === null ? {} : { userCode: formatUserCode(letters) })
    },
  )

  app.post(
    '/device',
    { schema: { body: PageForm, response: pageResponses }, config: { rateLimit: deviceCodeRateLimit } },
    async (request, reply) => {
      const form = request.body
      const signin = await currentSignin(deps, request)
      if (signin === null) return showSignin(request, reply, form.user_code)
      if (!isValidCsrfToken(request, 'device', form.csrf)) return sendPage(reply, expiredFormPage())
      const pending = await pendingOf(form.user_code)
      if (pending === null)
        return showCodeEntry(request, reply, signin, {
          userCode: form.user_code ?? '',
          error: unknownCode,
          status: 400,
        })
      const { letters, authorization, client } = pending
      const stepUp = await secondFactorGate(request, reply, signin, client, letters)
      if (stepUp !== null) return stepUp
      return sendPage(
        reply,
        deviceConsentPage(
          { csrf: issueCsrfToken(request, reply, 'device_consent', consentBinding(letters, signin)) },
          {
            clientName: client.name,
            userEmail: signin.user.email,
            userCode: formatUserCode(letters),
            scopes: describeScopes(authorization.scopes),
          },
        ),
      )
    },
  )

  app.post('/device/consent', { schema: { body: PageForm, response: pageResponses } }, async (request, reply) => {
    const form = request.body
    const signin = await currentSignin(deps, request)
    if (signin === null) return showSignin(request, reply, form.user_code)
    const letters = normalizeUserCode(form.user_code ?? '')
    if (letters === null || !isValidCsrfToken(request, 'device_consent', form.csrf, consentBinding(letters, signin)))
      return sendPage(reply, expiredFormPage())
    const pending = await pendingOf(letters)
    if (pending === null) return showCodeEntry(request, reply, signin, { error: unknownCode, status: 400 })
    const { authorization, client } = pending
    const stepUp = await secondFactorGate(request, reply, signin, client, letters)
    if (stepUp !== null) return stepUp
    const now = deps.clock.now()
    const userCodeHash = hashUserCode(letters)
    if (form.decision !== 'allow') {
      await decideDeviceAuthorization(deps.db, userCodeHash, { status: 'denied', userId: signin.user.id }, now)
      await recordAuditEvent(deps, {
        event: 'device.denied',
        userId: signin.user.id,
        clientId: client.id,
        ip: request.ip,
      })
      return sendPage(reply, messagePage('Sign-in denied', `${client.name} was not allowed. You can close this page.`))
    }
    const decided = await decideDeviceAuthorization(
      deps.db,
      userCodeHash,
      {
        status: 'approved',
        userId: signin.user.id,
        amr: signin.amr,
        authTime: signin.authTime,
        ip: request.ip,
        userAgent: userAgentOf(request),
      },
      now,
    )
    if (!decided) return showCodeEntry(request, reply, signin, { error: unknownCode, status: 400 })
    // Remembered like the consent page's "allow", so the user can withdraw it among their apps.
    if (!client.firstParty)
      await saveConsent(deps.db, signin.user.id, client.id, authorization.scopes, authorization.audience, now)
    await recordAuditEvent(deps, {
      event: 'device.approved',
      userId: signin.user.id,
      clientId: client.id,
      ip: request.ip,
      details: { scope: authorization.scopes.join(' '), audience: authorization.audience },
    })
    return sendPage(
      reply,
      messagePage('Device connected', `${client.name} is signed in as ${signin.user.email}. Return to your device.`),
    )
  })
}

export default devicePageRoute
