import type { FastifyError, FastifyInstance } from 'fastify'
import { ApiError, OAuthError } from '../errors.js'
import { html } from './html.js'
import { sendPage } from './send-page.js'

/**
 * Inside a plugin of hosted pages: errors (rate limits, bad input, anything unexpected) answer as
 * an HTML page with the same status and the same words the JSON API would use, never a stack.
 */
export function answerErrorsAsPages(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    let status = 500
    let message = 'Something went wrong on our side. Please try again in a moment.'
    if (error instanceof ApiError || error instanceof OAuthError) {
      status = error.status
      message = error.description
      reply.headers(error.headers)
    } else if (
      error.validation ||
      (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500)
    ) {
      status = error.statusCode ?? 400
      message = 'The form could not be read. Please go back and try again.'
    } else {
      request.log.error({ err: error }, 'unhandled error')
    }
    return sendPage(reply, {
      title: 'Something went wrong',
      status,
      body: html`<h1>Something went wrong</h1><p class="error" role="alert">${message}</p>`,
    })
  })
}
