import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { InvalidRequest } from '../errors.js'

/**
 * application/x-www-form-urlencoded bodies (RFC 6749 §4.1.3, §4.4.2). A parameter sent twice is
 * an error (RFC 6749 §3.1), except the few a spec lets repeat, which are given as arrays up to
 * their limit. A parameter is refused the moment it repeats once too often, and values are pushed
 * in place: copying the array per value made a 64 KB body of one name cost quadratic time.
 */
function parseForm(
  text: string,
  repeatLimits: ReadonlyMap<string, number> = new Map(),
): Record<string, string | string[]> {
  const out = Object.create(null) as Record<string, string | string[]>
  for (const [key, value] of new URLSearchParams(text)) {
    // RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
    if (value === '') continue
    const seen = out[key]
    if (seen === undefined) {
      out[key] = value
      continue
    }
    const limit = repeatLimits.get(key)
    if (limit === undefined) throw new InvalidRequest(`parameter ${key} is repeated`)
    const values = Array.isArray(seen) ? seen : (out[key] = [seen])
    if (values.length >= limit) throw new InvalidRequest(`parameter ${key} is repeated more than ${limit} times`)
    values.push(value)
  }
  return out
}

// RFC 8707 §2: resource may be given more than once; as many as the token request schema takes.
const repeatLimits = new Map([['resource', 10]])

export default fp(async function formBody(app: FastifyInstance) {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, { ...parseForm(body as string, repeatLimits) })
    } catch (error) {
      done(error as Error, undefined)
    }
  })
})

/**
 * preValidation for OAuth endpoints (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1): a JSON or
 * other body is refused before validation, so the error says why.
 */
export async function assertFormBody(request: FastifyRequest): Promise<void> {
  if (!request.headers['content-type']?.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    throw new InvalidRequest('the body must be application/x-www-form-urlencoded')
  }
}
