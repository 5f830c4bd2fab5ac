import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { InvalidRequest } from '../errors.js'

/**
 * C0 controls, DEL and C1 controls. No parameter Latchkey takes has a use for them, PostgreSQL
 * refuses NUL in text (an unchecked one was a 500), and a stored one would reach logs, mail headers
 * and pages.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

export function hasControlCharacter(text: string): boolean {
  return CONTROL.test(text)
}

/** The name of the first parameter (dotted for nested JSON) holding a control character, or null. */
function findControlCharacter(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === 'string') return hasControlCharacter(value) ? path : null
  // The body limit bounds the size; the depth bound keeps a deeply nested body from costing stack.
  if (value === null || typeof value !== 'object' || depth > 32) return null
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    const name = Array.isArray(value) ? path : path === '' ? key : `${path}.${key}`
    if (hasControlCharacter(key)) return name
    const found = findControlCharacter(inner, name, depth + 1)
    if (found !== null) return found
  }
  return null
}

/** Refuses, before schema validation, any body, query or path parameter with a control character. */
async function refuseControlCharacters(request: FastifyRequest): Promise<void> {
  for (const part of [request.params, request.query, request.body]) {
    const found = findControlCharacter(part, '')
    if (found !== null)
      throw new InvalidRequest(`${found === '' ? 'the request' : found} must not contain control characters`)
  }
}

/** App-wide: every route, JSON and form alike, so no text with a control character reaches the database. */
export default fp(async function controlCharacters(app: FastifyInstance) {
  app.addHook('preValidation', refuseControlCharacters)
})
