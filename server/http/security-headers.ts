import fp from 'fastify-plugin'
import Fastify, { type FastifyInstance } from 'fastify'
import helmet, { type FastifyHelmetOptions } from '@fastify/helmet'

const helmetOptions: FastifyHelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'self'"] },
  },
  crossOriginResourcePolicy: { policy: 'same-origin' },
  referrerPolicy: { policy: 'no-referrer' },
  hsts: { maxAge: 31_536_000, includeSubDomains: true },
}

/**
 * The headers @fastify/helmet sets for our policy, computed once on a probe instance.
 * @fastify/helmet rebuilds helmet's middleware (re-parsing these options) on every request, which
 * measured as a quarter of the cost of a token request; the policy never varies per request, so
 * the result is the same set of headers every time.
 */
async function computeHelmetHeaders(): Promise<Record<string, string>> {
  const probe = Fastify({ logger: false })
  await probe.register(helmet, helmetOptions)
  probe.get('/', async () => '')
  const res = await probe.inject('/')
  await probe.close()
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(res.headers)) {
    if (typeof value === 'string' && !['content-type', 'content-length', 'date', 'connection'].includes(name))
      headers[name] = value
  }
  return headers
}

/**
 * Helmet's headers on every response, and `Cache-Control: no-store` unless a route chooses its
 * own cache policy: responses of an identity server are private by default.
 */
export default fp(async function securityHeaders(app: FastifyInstance) {
  const headers = { ...(await computeHelmetHeaders()), 'cache-control': 'no-store' }
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })
})
