import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, OAuthError } from '../errors.js'
import { asSentence, messagePage } from './message-page.js'
import { sendPage } from './send-page.js'

/**
 * The hosted pages answer people, not programs: the errors that escape a page route (rate limits,
 * a saturated hashing queue, a repeated form field, a malformed body) become an HTML page with the
 * same status and the same words as http/error-handler.ts would put in JSON. Anything unexpected
 * is logged and shown as a generic 500 page, never with details.
 */
export function answerPageError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof OAuthError || error instanceof ApiError) {
    reply.headers(error.headers)
    return sendPage(reply, messagePage('Something went wrong', asSentence(error.description), error.status))
  }
  const status = error.statusCode ?? 500
  if (error.validation || (status >= 400 && status < 500)) {
    return sendPage(
      reply,
      messagePage(
        'Something went wrong',
        'The form was not filled in as expected. Go back and try again.',
        status >= 400 && status < 500 ? status : 400,
      ),
    )
  }
  request.log.error({ err: error }, 'unhandled error on a hosted page')
  return sendPage(
    reply,
    messagePage('Something went wrong', 'An internal error occurred. Please try again later.', 500),
  )
}
