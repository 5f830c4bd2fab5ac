import fp from 'fastify-plugin'
import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'

/**
 * CORS for browser apps on LATCHKEY_CORS_ORIGINS: exact origins only, credentials allowed, so
 * never `*` and never the `null` origin. Requests from other origins get no CORS headers.
 */
export default fp(async function corsPolicy(app: FastifyInstance, options: { origins: readonly string[] }) {
  const origins = new Set(options.origins)
  await app.register(cors, {
    origin: (origin, callback) => callback(null, origin !== undefined && origins.has(origin)),
    credentials: true,
    methods: ['GET', 'POST', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type', 'x-requested-with'],
    maxAge: 600,
    strictPreflight: false,
  })
})
