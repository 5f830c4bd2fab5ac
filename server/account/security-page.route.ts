import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { issueCsrfToken, isValidCsrfToken } from '../authorize/csrf.js'
import { currentSignin, startSignin, type Signin } from '../authorize/signin-session.js'
import { asSentence, expiredFormPage } from '../pages/message-page.js'
import { PageForm, pageResponses } from '../pages/page.schema.js'
import { sendPage } from '../pages/send-page.js'
import { parseRegistrationResponse } from '../passkeys/parse-passkey-response.js'
import { CreationOptions } from '../passkeys/passkeys.schema.js'
import { findPasskeysOfUser } from '../passkeys/passkey.store.js'
import { createRegistrationOptions, registerPasskey } from '../passkeys/register-passkey.js'
import { removePasskey } from '../mfa/remove-passkey.js'
import { securityPage } from './security-page.js'
import { hasCompletedSecondFactor } from '../mfa/mfa-policy.js'
import { assertRecentSignin, RECENT_SIGNIN_MS } from '../mfa/recent-signin.js'
import { secondFactorsOf } from '../mfa/second-step.js'
import { confirmTotp, mfaStatusOf, regenerateRecoveryCodes, removeTotp, setUpTotp } from '../mfa/totp-enrolment.js'

const AuthorizeQuery = {
  type: 'object',
  properties: { authorize: { type: 'string', maxLength: 8192 } },
  additionalProperties: true,
} as const

/** The app's authorization request this page carries (GET query or form field), or null. */
function authorizeOf(request: FastifyRequest): string | null {
  const from = (request.body ?? request.query) as { authorize?: unknown } | undefined
  return typeof from?.authorize === 'string' && from.authorize !== '' ? from.authorize : null
}

/**
 * /account/security: the hosted page where a user signed in at Latchkey's pages manages their
 * passkeys. Every post carries a CSRF token bound to this browser's sign-in.
 */
const securityPageRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const show = async (
    request: FastifyRequest,
    reply: FastifyReply,
    signin: Signin,
    values: {
      error?: string
      info?: string
      status?: number
      setup?: { secret: string; qrSvg: string }
      recoveryCodes?: string[]
    } = {},
  ) => {
    const { setup, recoveryCodes, ...notice } = values
    const [status, factors] = await Promise.all([
      mfaStatusOf(deps, signin.user.id),
      secondFactorsOf(deps, signin.user.id),
    ])
    return sendPage(
      reply,
      securityPage(issueCsrfToken(request, reply, 'security', signin.id), {
        email: signin.user.email,
        passkeys: await findPasskeysOfUser(deps.db, signin.user.id),
        totp: {
          enrolled: status.totp,
          recoveryCodesLeft: status.recoveryCodesLeft,
          needsPassword: deps.clock.now() - signin.authTime > RECENT_SIGNIN_MS,
          authorize: authorizeOf(request),
          mayContinue: factors.length > 0,
          ...(setup ? { setup } : {}),
          ...(recoveryCodes ? { recoveryCodes } : {}),
        },
        ...notice,
      }),
    )
  }

  /** Enrolling, new recovery codes and removal need a sign-in younger than 5 minutes or the password. */
  const assertFresh = (request: FastifyRequest, signin: Signin, password: string | undefined) =>
    assertRecentSignin(deps, signin.user, {
      authTime: Math.floor(signin.authTime / 1000),
      password: password === '' ? undefined : password,
      ip: request.ip,
    })

  /** The signed-in user of a post with a valid token, or the answer to send instead. */
  const signedInPost = async (request: FastifyRequest, reply: FastifyReply, csrf: string | undefined) => {
    const signin = await currentSignin(deps, request)
    if (signin === null) return { answer: reply.redirect('/signin', 303) }
    if (!isValidCsrfToken(request, 'security', csrf, signin.id)) return { answer: sendPage(reply, expiredFormPage()) }
    return { signin }
  }

  /** Runs a change posted by the signed-in user; its refusal (a wrong code, a stale sign-in) is shown on the page. */
  const change = async (
    request: FastifyRequest,
    reply: FastifyReply,
    csrf: string | undefined,
    run: (signin: Signin) => Promise<FastifyReply>,
  ) => {
    const { signin, answer } = await signedInPost(request, reply, csrf)
    if (!signin) return answer
    try {
      return await run(signin)
    } catch (error) {
      if (!(error instanceof ApiError)) throw error
      reply.headers(error.headers)
      return show(request, reply, signin, {
        error: asSentence(error.description),
        status: error.status === 429 ? 429 : 400,
      })
    }
  }

  /** A passkey added or removed: recorded, and said on the page. */
  const showPasskeyChange = async (
    request: FastifyRequest,
    reply: FastifyReply,
    signin: Signin,
    passkey: { id: string; name: string },
    done: 'added' | 'removed',
  ) => {
    await recordAuditEvent(deps, {
      event: `passkey.${done}`,
      userId: signin.user.id,
      ip: request.ip,
      details: { passkey_id: passkey.id },
    })
    return show(request, reply, signin, { info: `Passkey "${passkey.name}" ${done}.` })
  }

  app.get(
    '/account/security',
    { schema: { querystring: AuthorizeQuery, response: pageResponses } },
    async (request, reply) => {
      const signin = await currentSignin(deps, request)
      if (signin === null) return reply.redirect('/signin', 303)
      return show(request, reply, signin)
    },
  )

  // The authenticator app, without JavaScript: setup shows the secret and its QR code (SVG made on
  // the server), confirmation with a code turns it on and shows the recovery codes once.
  app.post(
    '/account/security/totp/setup',
    { schema: { body: PageForm, response: pageResponses } },
    async (request, reply) =>
      change(request, reply, request.body.csrf, async (signin) => {
        await assertFresh(request, signin, request.body.password)
        const { secret, otpauthUri } = await setUpTotp(deps, signin.user)
        reply.header('cache-control', 'no-store')
        // qrcode is loaded on the first TOTP setup, not at startup: nothing else draws a QR code.
        const { default: QRCode } = await import('qrcode')
        const qrSvg = await QRCode.toString(otpauthUri, {
          type: 'svg',
          margin: 2,
          width: 200,
          errorCorrectionLevel: 'M',
        })
        return show(request, reply, signin, { setup: { secret, qrSvg } })
      }),
  )

  app.post(
    '/account/security/totp/confirm',
    { schema: { body: PageForm, response: pageResponses } },
    async (request, reply) =>
      change(request, reply, request.body.csrf, async (signin) => {
        const codes = await confirmTotp(deps, signin.user, request.body.code ?? '', { ip: request.ip })
        // The code from the new factor is a second factor for this sign-in (RFC 8176 "otp", "mfa"):
        // a sign-in sent here to enrol (LATCHKEY_MFA=required, --require-mfa) may now go on.
        const current = hasCompletedSecondFactor(signin.amr)
          ? signin
          : await startSignin(deps, request, reply, signin.user, {
              amr: [...new Set([...signin.amr, 'otp', 'mfa'])],
              authTime: signin.authTime,
            })
        reply.header('cache-control', 'no-store')
        return show(request, reply, current, { info: 'Two-step sign-in is on.', recoveryCodes: codes })
      }),
  )

  app.post(
    '/account/security/recovery-codes',
    { schema: { body: PageForm, response: pageResponses } },
    async (request, reply) =>
      change(request, reply, request.body.csrf, async (signin) => {
        await assertFresh(request, signin, request.body.password)
        const codes = await regenerateRecoveryCodes(deps, signin.user, { ip: request.ip })
        reply.header('cache-control', 'no-store')
        return show(request, reply, signin, {
          info: 'New recovery codes made; the old ones no longer work.',
          recoveryCodes: codes,
        })
      }),
  )

  app.post(
    '/account/security/totp/delete',
    { schema: { body: PageForm, response: pageResponses } },
    async (request, reply) =>
      change(request, reply, request.body.csrf, async (signin) => {
        await assertFresh(request, signin, request.body.password)
        const now = deps.clock.now()
        const removed = await deps.db.transaction().execute((trx) => removeTotp(trx, signin.user.id, now, 'user'))
        if (removed) await recordAuditEvent(deps, { event: 'mfa.totp_removed', userId: signin.user.id, ip: request.ip })
        return show(request, reply, signin, { info: 'The authenticator app was turned off.' })
      }),
  )

  app.post(
    '/account/security/passkeys/options',
    { schema: { body: PageForm, response: { ...pageResponses, 200: CreationOptions } } },
    async (request, reply) => {
      const { signin, answer } = await signedInPost(request, reply, request.body.csrf)
      if (!signin) return answer
      try {
        await assertFresh(request, signin, request.body.password)
      } catch (error) {
        if (!(error instanceof ApiError)) throw error
        // The page's script shows this sentence next to the button.
        return reply
          .code(error.status === 429 ? 429 : 403)
          .headers(error.headers)
          .type('text/plain; charset=utf-8')
          .send(asSentence(error.description))
      }
      return createRegistrationOptions(deps, signin.user)
    },
  )

  app.post(
    '/account/security/passkeys',
    { schema: { body: PageForm, response: pageResponses } },
    async (request, reply) =>
      change(request, reply, request.body.csrf, async (signin) => {
        await assertFresh(request, signin, request.body.password)
        const passkey = await registerPasskey(
          deps,
          signin.user,
          parseRegistrationResponse(request.body.passkey_response),
          request.body.name,
        )
        return showPasskeyChange(request, reply, signin, passkey, 'added')
      }),
  )

  app.post(
    '/account/security/passkeys/delete',
    { schema: { body: PageForm, response: pageResponses } },
    async (request, reply) =>
      change(request, reply, request.body.csrf, async (signin) => {
        await assertFresh(request, signin, request.body.password)
        const passkey = await removePasskey(deps, signin.user.id, request.body.passkey_id ?? '')
        return showPasskeyChange(request, reply, signin, passkey, 'removed')
      }),
  )
}

export default securityPageRoute
