import fp from 'fastify-plugin'
import cors from '@fastify/cors'
import type { FastifyInstance, FastifyRequest } from 'fastify'

/**
 * The endpoints browser apps call with fetch: the JSON account API, the token-side OAuth
 * endpoints, discovery and the key set. Never the authorization endpoint or the hosted pages
 * (/oauth/authorize, /signin, /signup, /consent, /signout, ...): RFC 9700 §4.16 / §2.6 says CORS
 * MUST NOT be supported at the authorization endpoint, and a page that acts on the sign-in cookie
 * must not be readable cross-origin with credentials.
 */
const corsPaths = [
  '/auth',
  '/oauth/token',
  '/oauth/revoke',
  '/oauth/userinfo',
  '/oauth/introspect',
  '/oauth/revocations',
  '/.well-known',
]

function isCorsPath(url: string): boolean {
  const path = url.split('?', 1)[0]!
  return corsPaths.some((p) => path === p || path.startsWith(`${p}/`))
}

/**
 * CORS for browser apps on LATCHKEY_CORS_ORIGINS: exact origins only, credentials allowed, so
 * never `*` and never the `null` origin, and only on the paths above. Requests from other
 * origins or to other paths get no CORS headers.
 */
export default fp(async function corsPolicy(app: FastifyInstance, options: { origins: readonly string[] }) {
  const origins = new Set(options.origins)
  await app.register(cors, {
    delegator: (request: FastifyRequest, callback) => {
      const origin = request.headers.origin
      callback(null, {
        origin: isCorsPath(request.url) && origin !== undefined && origins.has(origin),
        credentials: true,
        methods: ['GET', 'POST', 'DELETE'],
        allowedHeaders: ['authorization', 'content-type', 'x-requested-with', 'dpop'],
        // RFC 9449 §8: a browser client must read the server's nonce.
        exposedHeaders: ['dpop-nonce', 'www-authenticate'],
        maxAge: 600,
        strictPreflight: false,
      })
    },
  })
})
