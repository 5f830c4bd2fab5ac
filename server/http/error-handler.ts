import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance } from 'fastify'
import { isOutage } from '../db/is-outage.js'
import { ApiError, MfaRequired, OAuthError } from '../errors.js'

/** How long a client is asked to wait when PostgreSQL or Redis cannot answer (RFC 9110 §10.2.3). */
const OUTAGE_RETRY_AFTER_S = 5

/** What a client is told about an error: status, code, sentence and headers. */
export interface DescribedError {
  status: number
  error: string
  description: string
  headers: Record<string, string>
  /** Members of the body beyond error and error_description (the mfa_token of mfa_required). */
  fields?: Record<string, string>
  /** A backing service (database, Redis) could not answer: logged as a warning, not a bug. */
  outage?: true
}

const frameworkDescriptions: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'the request body is too large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported content type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the JSON body is empty',
  FST_ERR_CTP_INVALID_JSON_BODY: 'the body is not valid JSON',
}

/**
 * Our own errors as they are; schema validation and Fastify's own 4xx errors (body too large,
 * bad JSON, wrong media type) as client errors; a database or Redis that cannot answer as 503
 * with Retry-After (db/is-outage.ts). Null for anything else: a bug, answered as 500.
 */
export function describeError(error: FastifyError): DescribedError | null {
  if (error instanceof MfaRequired)
    return {
      status: error.status,
      error: error.error,
      description: error.description,
      headers: error.headers,
      fields: { mfa_token: error.mfaToken },
    }
  if (error instanceof OAuthError || error instanceof ApiError)
    return { status: error.status, error: error.error, description: error.description, headers: error.headers }
  if (isOutage(error))
    return {
      status: 503,
      error: 'temporarily_unavailable',
      description: 'the service is temporarily unavailable, retry shortly',
      headers: { 'retry-after': String(OUTAGE_RETRY_AFTER_S) },
      outage: true,
    }
  if (error.validation)
    return { status: 400, error: 'invalid_request', description: describeValidation(error), headers: {} }
  const status = error.statusCode ?? 500
  if (status < 400 || status >= 500) return null
  return {
    status,
    error: status === 429 ? 'rate_limited' : 'invalid_request',
    description: frameworkDescriptions[error.code] ?? 'the request is malformed',
    headers: {},
  }
}

interface SchemaError {
  keyword: string
  instancePath: string
  params: Record<string, unknown>
}

const wholeParts: Record<string, string> = {
  body: 'the request body',
  querystring: 'the query string',
  params: 'the path',
  headers: 'a header',
}

/**
 * A schema error as a plain sentence about the parameter ("refresh_token is too long"), never a
 * schema path or ajv's wording: clients learn what to fix, not how the server is built.
 */
function describeValidation(error: FastifyError): string {
  const first = error.validation?.[0] as SchemaError | undefined
  const whole = wholeParts[error.validationContext ?? 'body'] ?? 'the request'
  if (!first) return `${whole} is invalid`
  const name = first.instancePath
    .split('/')
    .filter((part) => part !== '' && !/^\d+$/.test(part))
    .pop()
  const field = name ?? whole
  switch (first.keyword) {
    case 'required':
      return `${String(first.params.missingProperty)} is required`
    case 'additionalProperties':
      return `${String(first.params.additionalProperty)} is not an accepted parameter`
    case 'maxLength':
      return `${field} is too long`
    case 'minLength':
      return first.params.limit === 1 ? `${field} must not be empty` : `${field} is too short`
    case 'type':
      return `${field} must be ${/^[aeiou]/.test(String(first.params.type)) ? 'an' : 'a'} ${String(first.params.type)}`
    case 'maxItems':
      return `${field} is given too many times`
    case 'minItems':
      return `${field} is given too few times`
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `${field} is out of range`
    case 'pattern':
    case 'format':
      return `${field} is not in the expected format`
    case 'enum':
    case 'const':
    case 'anyOf':
    case 'oneOf':
      return `${field} is not one of the accepted values`
    default:
      return `${field} is invalid`
  }
}

/** The one place where errors of the JSON API become replies: {"error", "error_description"}, never a stack. */
export default fp(async function errorHandler(app: FastifyInstance) {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    const described = describeError(error)
    if (!described) {
      request.log.error({ err: error }, 'unhandled error')
      return reply.code(500).send({ error: 'server_error', error_description: 'an internal error occurred' })
    }
    if (described.outage)
      request.log.warn({ event: 'dependency.unavailable', err: error }, 'a backing service did not answer')
    if (described.status === 401 || described.error === 'invalid_client')
      request.log.info({ event: 'request.rejected', error: described.error }, described.description)
    return reply
      .code(described.status)
      .headers(described.headers)
      .send({ error: described.error, error_description: described.description, ...described.fields })
  })

  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .header('cache-control', 'no-store')
      .send({ error: 'not_found', error_description: `no route for ${request.method} ${request.url.split('?')[0]}` })
  })
})
