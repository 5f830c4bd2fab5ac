import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import swaggerUi from '@fastify/swagger-ui'

/**
 * The strict CSP of the rest of Latchkey, opened only to our own scripts, styles and images: the
 * renderer's assets are served from the package, never from a CDN, and nothing inline runs.
 */
const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  // The one <style> element Swagger UI inserts, allowed by its hash; a Swagger UI release that
  // changes it shows up as a CSP violation in test/openapi/openapi.test.ts.
  "style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** GET /openapi.json (the document @fastify/swagger built from every route) and GET /docs (Swagger UI). */
const docsRoute: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/openapi.json',
    {
      schema: {
        summary: 'This OpenAPI 3.1 document',
        tags: ['operations'],
        response: { 200: Type.Object({ openapi: Type.String() }, { additionalProperties: true }) },
      },
    },
    async (_request, reply) =>
      reply.header('cache-control', 'public, max-age=300').send(app.swagger() as { openapi: string }),
  )
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: DOCS_CSP,
    // No call to the public validator service: Latchkey's pages talk to Latchkey only.
    uiConfig: { validatorUrl: null, deepLinking: true },
  })
}

export default docsRoute
