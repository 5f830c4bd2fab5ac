import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance } from 'fastify'
import { ApiError, OAuthError } from '../errors.js'

export interface ErrorBody {
  error: string
  error_description: string
}

/** Fastify's own 4xx errors (body too large, bad JSON, wrong media type) as client errors, never 500s. */
function describeFrameworkError(error: FastifyError): { status: number; body: ErrorBody } | null {
  if (error.validation) {
    return {
      status: 400,
      body: {
        error: 'invalid_request',
        error_description: `${error.validationContext ?? 'request'}${formatValidation(error)}`,
      },
    }
  }
  const status = error.statusCode ?? 500
  if (status < 400 || status >= 500) return null
  const descriptions: Record<string, string> = {
    FST_ERR_CTP_BODY_TOO_LARGE: 'the request body is too large',
    FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported content type',
    FST_ERR_CTP_EMPTY_JSON_BODY: 'the JSON body is empty',
    FST_ERR_CTP_INVALID_JSON_BODY: 'the body is not valid JSON',
  }
  return {
    status,
    body: {
      error: status === 429 ? 'rate_limited' : 'invalid_request',
      error_description: descriptions[error.code] ?? 'the request is malformed',
    },
  }
}

function formatValidation(error: FastifyError): string {
  const first = error.validation?.[0]
  if (!first) return ' is invalid'
  const where = first.instancePath ? first.instancePath.replace(/^\//, '.').replace(/\//g, '.') : ''
  return `${where} ${first.message ?? 'is invalid'}`
}

/** The one place where errors become HTTP replies: {"error", "error_description"}, never a stack. */
export default fp(async function errorHandler(app: FastifyInstance) {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    if (error instanceof OAuthError || error instanceof ApiError) {
      if (error.status === 401 || error.error === 'invalid_client')
        request.log.info({ event: 'request.rejected', error: error.error }, error.description)
      return reply
        .code(error.status)
        .headers(error.headers)
        .send({ error: error.error, error_description: error.description })
    }
    const known = describeFrameworkError(error)
    if (known) return reply.code(known.status).send(known.body)
    request.log.error({ err: error }, 'unhandled error')
    return reply.code(500).send({ error: 'server_error', error_description: 'an internal error occurred' })
  })

  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .header('cache-control', 'no-store')
      .send({ error: 'not_found', error_description: `no route for ${request.method} ${request.url.split('?')[0]}` })
  })
})
