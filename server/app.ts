import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { TrustProxy } from './config.js'
import type { Deps } from './deps.js'
import errorHandler from './http/error-handler.js'
import formBody from './http/form-body.js'
import requestLog from './http/request-log.js'
import securityHeaders from './http/security-headers.js'
import healthRoute from './health/health.route.js'
import discoveryRoute from './discovery/discovery.route.js'
import jwksRoute from './discovery/jwks.route.js'
import tokenRoute from './tokens/token.route.js'

/** The table of contents: app-wide plugins first, then each capability under its prefix. */
export async function buildApp(deps: Deps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // http/request-log.ts writes one line per request instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: toFastifyTrustProxy(deps.config.trustProxy),
    bodyLimit: 64 * 1024,
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>()

  await app.register(errorHandler)
  await app.register(securityHeaders)
  await app.register(requestLog)
  await app.register(formBody)

  await app.register(healthRoute, { deps })
  await app.register(discoveryRoute, { deps })
  await app.register(jwksRoute, { deps })
  await app.register(tokenRoute, { deps, prefix: '/oauth' })

  return app
}

/** A hop count trusts that many proxies in front of us (the nearest addresses in X-Forwarded-For). */
function toFastifyTrustProxy(trust: TrustProxy): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof trust === 'number') return (_address, hop) => hop < trust
  return trust
}
