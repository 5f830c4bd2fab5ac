import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import { loginRateLimit } from '../http/rate-limit.js'
import { html } from '../pages/html.js'
import { sendPage } from '../pages/send-page.js'
import { findLiveAccountToken } from '../users/account-token.store.js'
import { verifyEmail } from '../users/email-verification.js'

const TokenField = Type.Object({ token: Type.Optional(Type.String({ maxLength: 8192 })) })
const htmlResponse = { 200: Type.String(), 400: Type.String(), 429: Type.String() }

const brokenLink = html`<h1>This link does not work</h1>
<p class="error" role="alert">This verification link is invalid, expired or already used. Sign in and ask for a new one.</p>`

/**
 * GET /verify-email?token=… (the emailed link) shows a button; only the POST it submits uses the
 * token, so a mail scanner that opens links cannot spend it, and the address bar after the POST
 * no longer holds it. Works without JavaScript.
 */
const verifyEmailPage: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.get('/verify-email', { schema: { querystring: TokenField, response: htmlResponse } }, async (request, reply) => {
    const token = request.query.token
    if (!token || !(await findLiveAccountToken(deps.db, 'email_verification_tokens', token, deps.clock.now()))) {
      return sendPage(reply, { title: 'Verify your email', status: 400, body: brokenLink })
    }
    return sendPage(reply, {
      title: 'Verify your email',
      body: html`<h1>Verify your email address</h1>
<p>Confirm that this address is yours.</p>
<form method="post" action="/verify-email">
<input type="hidden" name="token" value="${token}">
<button type="submit">Verify my email address</button>
</form>`,
    })
  })

  app.post(
    '/verify-email',
    { schema: { body: TokenField, response: htmlResponse }, config: { rateLimit: loginRateLimit } },
    async (request, reply) => {
      const token = request.body.token
      try {
        if (!token) throw new ApiError('invalid_token', 400, '')
        await verifyEmail(deps, { token }, { ip: request.ip })
      } catch (error) {
        if (error instanceof ApiError && error.error === 'invalid_token')
          return sendPage(reply, { title: 'Verify your email', status: 400, body: brokenLink })
        throw error
      }
      return sendPage(reply, {
        title: 'Email verified',
        body: html`<h1>Email verified</h1><p class="success" role="status">Thank you: your email address is verified. You can close this page.</p>`,
      })
    },
  )
}

export default verifyEmailPage
