import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { loginRateLimit, passwordResetRateLimit } from '../http/rate-limit.js'
import { html, type Html } from '../pages/html.js'
import { sendPage } from '../pages/send-page.js'
import { findLiveAccountToken } from '../users/account-token.store.js'
import { confirmPasswordReset, requestPasswordReset } from './password-reset.js'
import { resetAccepted } from './password-reset.route.js'

const field = Type.Optional(Type.String({ maxLength: 8192 }))
const htmlResponse = { 200: Type.String(), 400: Type.String(), 429: Type.String(), 503: Type.String() }

function errorLine(message: string | undefined): Html | string {
  return message ? html`<p class="error" role="alert" id="form-error">${message}</p>` : ''
}

/** "Forgot your password?": the hosted login page links here. */
function requestForm(message?: string): Html {
  return html`<h1>Reset your password</h1>
${errorLine(message)}
<p>Enter the email address of your account and we will send you a link to choose a new password.</p>
<form method="post" action="/reset-password">
<label for="email">Email address</label>
<input type="email" id="email" name="email" autocomplete="email" required maxlength="254"${message ? html` aria-describedby="form-error"` : ''}>
<button type="submit">Send reset link</button>
</form>`
}

function newPasswordForm(token: string, minLength: number, message?: string): Html {
  return html`<h1>Choose a new password</h1>
${errorLine(message)}
<form method="post" action="/reset-password/confirm">
<input type="hidden" name="token" value="${token}">
<label for="password">New password</label>
<input type="password" id="password" name="password" autocomplete="new-password" required minlength="${minLength}" maxlength="1024" aria-describedby="password-hint${message ? ' form-error' : ''}">
<p id="password-hint">At least ${minLength} characters. A few unrelated words make a strong password.</p>
<label for="password_confirmation">Repeat the new password</label>
<input type="password" id="password_confirmation" name="password_confirmation" autocomplete="new-password" required minlength="${minLength}" maxlength="1024">
<button type="submit">Set new password</button>
</form>`
}

const brokenLink = (): Html =>
  requestForm('This reset link is invalid, expired or already used. Ask for a new one below.')

/**
 * GET /reset-password without a token asks for the email; with the emailed token it asks for the
 * new password, carrying the token in a hidden field so the POST, not a GET a mail scanner might
 * make, spends it, and the address bar afterwards no longer holds it. The forms post to routes
 * that call the same functions as the JSON API. Works without JavaScript.
 */
const resetPasswordPage: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const minLength = deps.config.passwordMinLength

  app.get(
    '/reset-password',
    { schema: { querystring: Type.Object({ token: field }), response: htmlResponse } },
    async (request, reply) => {
      const token = request.query.token
      if (token === undefined) return sendPage(reply, { title: 'Reset your password', body: requestForm() })
      if (!(await findLiveAccountToken(deps.db, 'password_reset_tokens', token, deps.clock.now()))) {
        return sendPage(reply, { title: 'Reset your password', status: 400, body: brokenLink() })
      }
      return sendPage(reply, { title: 'Choose a new password', body: newPasswordForm(token, minLength) })
    },
  )

  app.post(
    '/reset-password',
    {
      schema: { body: Type.Object({ email: field }), response: htmlResponse },
      config: { rateLimit: passwordResetRateLimit },
    },
    async (request, reply) => {
      const email = request.body.email
      if (!email)
        return sendPage(reply, {
          title: 'Reset your password',
          status: 400,
          body: requestForm('Enter the email address of your account.'),
        })
      await requestPasswordReset(deps, { email }, { ip: request.ip })
      return sendPage(reply, {
        title: 'Check your email',
        body: html`<h1>Check your email</h1><p class="success" role="status">${resetAccepted.message}</p><p>The link works once and expires soon. Nothing arrived? Check your spam folder, or <a href="/reset-password">ask again</a>.</p>`,
      })
    },
  )

  app.post(
    '/reset-password/confirm',
    {
      schema: {
        body: Type.Object({ token: field, password: field, password_confirmation: field }),
        response: htmlResponse,
      },
      config: { rateLimit: loginRateLimit },
      onRequest: async () => deps.passwordHasher.assertCapacity(),
    },
    async (request, reply) => {
      const { token, password, password_confirmation: confirmation } = request.body
      if (!token) return sendPage(reply, { title: 'Reset your password', status: 400, body: brokenLink() })
      const retry = (message: string) =>
        sendPage(reply, {
          title: 'Choose a new password',
          status: 400,
          body: newPasswordForm(token, minLength, message),
        })
      if (!password) return retry('Enter a new password.')
      if (password !== confirmation) return retry('The two passwords are not the same.')
      try {
        await confirmPasswordReset(deps, { token, password }, { ip: request.ip })
      } catch (error) {
        if (error instanceof ApiError && error.error === 'invalid_token')
          return sendPage(reply, { title: 'Reset your password', status: 400, body: brokenLink() })
        if (error instanceof ApiError && error.status === 400) return retry(error.description)
        throw error
      }
      return sendPage(reply, {
        title: 'Password changed',
        body: html`<h1>Password changed</h1><p class="success" role="status">Your password was changed and every device signed in to your account was signed out. Sign in again with your new password.</p>`,
      })
    },
  )
}

export default resetPasswordPage
