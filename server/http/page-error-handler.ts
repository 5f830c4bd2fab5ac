import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { asSentence, messagePage } from '../pages/message-page.js'
import { sendPage } from '../pages/send-page.js'
import { describeError } from './error-handler.js'

/**
 * The one place where errors of the hosted pages become replies. Pages answer people, not
 * programs: the same status and the same words as the JSON API (error-handler.ts), as an HTML
 * page. Anything unexpected is logged and shown as a generic 500 page, never with details.
 */
export function answerPageError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const described = describeError(error)
  if (!described) {
    request.log.error({ err: error }, 'unhandled error on a hosted page')
    return sendPage(
      reply,
      messagePage('Something went wrong', 'An internal error occurred. Please try again later.', 500),
    )
  }
  if (described.outage)
    request.log.warn({ event: 'dependency.unavailable', err: error }, 'a backing service did not answer')
  reply.headers(described.headers)
  return sendPage(reply, messagePage('Something went wrong', asSentence(described.description), described.status))
}
