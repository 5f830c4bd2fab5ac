import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger'

/**
 * How each route is authenticated, by URL: the first matching rule applies. OpenAPI's `security`
 * lists alternatives; `{}` means none needed. Routes say what they accept in their own schemas;
 * this table only names the schemes, so a new route under a known prefix is documented as such.
 */
const securityByRoute: Array<{ match: RegExp; security: Array<Record<string, string[]>> }> = [
  { match: /^\/oauth\/(token|revoke|introspect)$/, security: [{ clientSecretBasic: [] }, { clientSecretPost: [] }] },
  { match: /^\/oauth\/userinfo$/, security: [{ bearerToken: [] }] },
  { match: /^\/auth\/(refresh|logout)$/, security: [{ sessionCookie: [] }] },
  {
    match:
      /^\/auth\/(me|sessions|sessions\/:id|logout-all|password-change|consents|consents\/:client_id|email\/resend)$/,
    security: [{ bearerToken: [] }],
  },
  { match: /^\/metrics$/, security: [{ metricsToken: [] }, {}] },
]

/** Form-encoded endpoints (RFC 6749 §3.2, the hosted pages' forms). */
const formRoutes =
  /^\/(oauth\/(token|revoke|introspect|authorize|userinfo|logout(\/confirm)?)|signin|signup|signout|consent|verify-email|reset-password(\/confirm)?)$/

/** @fastify/swagger's options: OpenAPI 3.1 built from every route's own schemas. */
export function openApiOptions(issuer: string): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Latchkey',
        version: '0.1.0',
        description:
          'OAuth 2.0 / OpenID Connect identity server: RFC 9068 JWT access tokens, self-rotating signing keys, first-party accounts and sessions. Every error body is {"error", "error_description"}.',
      },
      servers: [{ url: issuer }],
      components: {
        securitySchemes: {
          clientSecretBasic: {
            type: 'http',
            scheme: 'basic',
            description: 'client_secret_basic (RFC 6749 §2.3.1)',
          },
          clientSecretPost: {
            type: 'apiKey',
            in: 'query',
            name: 'client_secret',
            description: 'client_secret_post: client_id and client_secret in the form body (RFC 6749 §2.3.1)',
          },
          bearerToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'a Latchkey access token' },
          sessionCookie: {
            type: 'apiKey',
            in: 'cookie',
            name: '__Host-latchkey_session',
            description: 'the first-party session; also needs an allowed Origin and X-Requested-With: latchkey',
          },
          metricsToken: { type: 'http', scheme: 'bearer', description: 'LATCHKEY_METRICS_TOKEN, when set' },
        },
      },
    },
    transform: ({ schema, url }) => {
      const rule = securityByRoute.find((r) => r.match.test(url))
      const documented = { ...schema } as Record<string, unknown>
      if (rule && documented.security === undefined) documented.security = rule.security
      if (formRoutes.test(url) && documented.body !== undefined)
        documented.consumes = ['application/x-www-form-urlencoded']
      return { schema: documented, url }
    },
  }
}
