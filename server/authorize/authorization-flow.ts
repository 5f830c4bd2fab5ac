import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Deps } from '../deps.js'
import { needsConsent } from '../consents/consent.js'
import { describeScopes } from './scope-descriptions.js'
import { sendPage } from '../pages/send-page.js'
import { issueCsrfToken } from './csrf.js'
import { messagePage } from '../pages/message-page.js'
import { consentPage, secondStepPage, signinPage } from './signin-pages.js'
import { hasCompletedSecondFactor, isSecondFactorDue } from '../mfa/mfa-policy.js'
import { secondFactorsOf, startSecondStep } from '../mfa/second-step.js'
import type { Signin } from './signin-session.js'
import {
  AuthorizationPageError,
  AuthorizationRedirectError,
  buildRedirect,
  type AuthorizationRequest,
} from './authorization-request.js'
import { issueAuthorizationCode, type Browser } from './issue-authorization-code.js'
import { formActionSourceOf } from './redirect-uri.js'
import { userAgentOf } from '../http/user-agent.js'

export type AuthorizationStep =
  | { kind: 'signin' }
  | { kind: 'consent'; signin: Signin; signedInForThisRequest: boolean }
  | { kind: 'redirect'; location: string }
  /** A second factor is due: the second step (mfaToken), or enrolment when the user has none (null). */
  | { kind: 'second_factor'; mfaToken: string | null; passkey: boolean }

/**
 * What the consent form's CSRF token is bound to: this authorization request, this sign-in and
 * whether the user proved their password in this flow. POST /consent trusts a fresh sign-in
 * (prompt=login, max_age) only when its token was issued right after that sign-in.
 */
export function consentFormBinding(
  authorization: AuthorizationRequest,
  signin: Signin,
  signedInForThisRequest: boolean,
): string {
  return JSON.stringify([authorization.query, signin.id, signin.authTime, signedInForThisRequest ? 'fresh' : 'earlier'])
}

export interface StepOptions {
  /** The user proved their password in this very request (or earlier in this flow). */
  signedInForThisRequest: boolean
  /** The user just answered "allow" on the consent page. */
  consentGiven: boolean
  browser: Browser
}

/**
 * What an authorization request needs next: the user must sign in (none yet, prompt=login, or an
 * older sign-in than max_age allows), consent (a third-party client asking for scopes not yet
 * granted, or prompt=consent), or nothing more, in which case a code is issued.
 */
export async function nextAuthorizationStep(
  deps: Pick<Deps, 'db' | 'clock' | 'config'>,
  request: AuthorizationRequest,
  signin: Signin | null,
  options: StepOptions,
): Promise<AuthorizationStep> {
  const now = deps.clock.now()
  const reject = (error: string, description: string) =>
    new AuthorizationRedirectError(error, description, request.redirectUri, request.state)
  const tooOld = signin !== null && request.maxAge !== null && now - signin.authTime > request.maxAge * 1000
  if (signin === null || (!options.signedInForThisRequest && (request.prompt.has('login') || tooOld))) {
    // OIDC Core §3.1.2.6
    if (request.prompt.has('none')) throw reject('login_required', 'the user is not signed in')
    return { kind: 'signin' }
  }
  if (isSecondFactorDue(deps.config, request.client) && !hasCompletedSecondFactor(signin.amr)) {
    // OIDC Core §3.1.2.6: a step-up needs the user.
    if (request.prompt.has('none')) throw reject('interaction_required', 'the app needs a sign-in with a second factor')
    const factors = await secondFactorsOf(deps, signin.user.id)
    if (factors.length === 0) return { kind: 'second_factor', mfaToken: null, passkey: false }
    const first = { amr: signin.amr, authTime: signin.authTime }
    const mfaToken = await startSecondStep(deps, signin.user, first)
    return { kind: 'second_factor', mfaToken, passkey: factors.includes('passkey') }
  }
  if (
    !options.consentGiven &&
    (request.prompt.has('consent') ||
      (await needsConsent(deps.db, signin.user.id, request.client, request.scopes, request.audience)))
  ) {
    if (request.prompt.has('none')) throw reject('consent_required', 'the user has not allowed this app yet')
    return { kind: 'consent', signin, signedInForThisRequest: options.signedInForThisRequest }
  }
  const code = await issueAuthorizationCode(deps, request, signin, options.browser)
  // RFC 9207: iss tells the client which server answered (mix-up defence).
  return {
    kind: 'redirect',
    location: buildRedirect(request.redirectUri, { code, state: request.state, iss: deps.config.issuer }),
  }
}

/** The account security page, where a user without a second factor sets one up and then goes on to the app. */
export function enrolmentPath(authorize: string | null): string {
  return authorize === null ? '/account/security' : `/account/security?${new URLSearchParams({ authorize }).toString()}`
}

/** The browser behind a request, recorded with the code and the session it opens. */
export function browserOf(request: FastifyRequest): Browser {
  return { ip: request.ip, userAgent: userAgentOf(request) }
}

/** Sends the page or redirect for a step. After a form post, redirects are 303 so the browser follows with GET. */
export function answerAuthorizationStep(
  deps: Pick<Deps, 'config'>,
  request: FastifyRequest,
  reply: FastifyReply,
  authorization: AuthorizationRequest,
  step: AuthorizationStep,
  notice: { error?: string; status?: number; email?: string | null } = {},
): FastifyReply {
  const formActionOrigins = [formActionSourceOf(authorization.redirectUri)]
  if (step.kind === 'redirect')
    return reply
      .code(request.method === 'GET' ? 302 : 303)
      .header('location', step.location)
      .send()
  if (step.kind === 'second_factor') {
    if (step.mfaToken === null)
      return reply
        .code(request.method === 'GET' ? 302 : 303)
        .header('location', enrolmentPath(authorization.query))
        .send()
    const form = {
      csrf: issueCsrfToken(request, reply, 'signin_mfa'),
      authorize: authorization.query,
      formActionOrigins,
    }
    return sendPage(
      reply,
      secondStepPage(
        form,
        { clientName: authorization.client.name },
        { ...notice, mfaToken: step.mfaToken, passkey: step.passkey },
      ),
    )
  }
  if (step.kind === 'signin') {
    const form = { csrf: issueCsrfToken(request, reply, 'signin'), authorize: authorization.query, formActionOrigins }
    return sendPage(
      reply,
      signinPage(
        form,
        { clientName: authorization.client.name },
        { ...notice, email: notice.email ?? authorization.loginHint },
      ),
    )
  }
  const binding = consentFormBinding(authorization, step.signin, step.signedInForThisRequest)
  const form = {
    csrf: issueCsrfToken(request, reply, 'consent', binding),
    authorize: authorization.query,
    formActionOrigins,
  }
  return sendPage(
    reply,
    consentPage(form, {
      clientName: authorization.client.name,
      userEmail: step.signin.user.email,
      scopes: describeScopes(authorization.scopes),
    }),
  )
}

/**
 * Errors before the redirect_uri is trusted are shown here and go nowhere else; later ones go
 * back to the app with `iss` (RFC 6749 §4.1.2.1, RFC 9207).
 */
export function answerAuthorizationError(
  deps: Pick<Deps, 'config'>,
  request: FastifyRequest,
  reply: FastifyReply,
  error: unknown,
): FastifyReply {
  if (error instanceof AuthorizationPageError) {
    return sendPage(
      reply,
      messagePage('Sign-in problem', `${error.description} Go back to the app and try again.`, 400),
    )
  }
  if (error instanceof AuthorizationRedirectError) {
    const location = buildRedirect(error.redirectUri, {
      error: error.error,
      error_description: error.description,
      state: error.state,
      iss: deps.config.issuer,
    })
    return reply
      .code(request.method === 'GET' ? 302 : 303)
      .header('location', location)
      .send()
  }
  throw error
}
