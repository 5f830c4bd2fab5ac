import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'

const malformed = JSON.stringify({ error: 'invalid_request', error_description: 'the request is malformed' })

/**
 * Requests Fastify refuses before routing (a URL that does not decode, an over-long parameter)
 * get the same error shape and cache policy as every other error.
 */
export function answerFrameworkError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  reply
    .code(error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400)
    .header('cache-control', 'no-store')
    .type('application/json; charset=utf-8')
    .send(malformed)
}

/** Requests Node cannot even parse (oversized or invalid headers) are answered on the raw socket. */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) return
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request'
  socket.end(
    `HTTP/1.1 ${status}\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(malformed)}\r\n\r\n${malformed}`,
  )
}
