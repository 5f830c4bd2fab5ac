import type { FastifyRequest } from 'fastify'

/**
 * The request's User-Agent as stored with sessions and shown back to the user: C0 and C1 control
 * characters (a raw 0x9B byte arrives as U+009B, the 8-bit CSI) become U+FFFD, and it is cut to
 * 300 characters.
 */
export function userAgentOf(request: FastifyRequest): string | null {
  const value = request.headers['user-agent']
  if (value === undefined) return null
  // eslint-disable-next-line no-control-regex -- the control characters are what this removes
  return value.replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd').slice(0, 300)
}
