import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { TrustProxy } from './config.js'
import type { Deps } from './deps.js'
import errorHandler from './http/error-handler.js'
import formBody from './http/form-body.js'
import requestLog from './http/request-log.js'
import { createRequestLogger } from './http/request-logger.js'
import requestMetrics from './http/request-metrics.js'
import overload from './http/overload.js'
import metricsRoute from './health/metrics.route.js'
import swagger from '@fastify/swagger'
import { openApiOptions } from './openapi/openapi.js'
import docsRoute from './openapi/docs.route.js'
import securityHeaders from './http/security-headers.js'
import corsPolicy from './http/cors.js'
import { answerClientError, answerFrameworkError } from './http/malformed-requests.js'
import { registerRateLimit, storeErrorReporter } from './http/rate-limit.js'
import { createClientAuthentication } from './http/client-auth-budget.js'
import healthRoute from './health/health.route.js'
import discoveryRoute from './discovery/discovery.route.js'
import jwksRoute from './discovery/jwks.route.js'
import tokenRoute from './tokens/token.route.js'
import deviceAuthorizationRoute from './tokens/device-authorization.route.js'
import revokeRoute from './tokens/revoke.route.js'
import introspectRoute from './tokens/introspect.route.js'
import registerRoute from './account/register.route.js'
import meRoute from './account/me.route.js'
import userinfoRoute from './tokens/userinfo.route.js'
import passwordChangeRoute from './account/password-change.route.js'
import loginRoute from './account/login.route.js'
import loginMfaRoute from './account/login-mfa.route.js'
import mfaRoute from './mfa/mfa.route.js'
import refreshRoute from './account/refresh.route.js'
import logoutRoute from './account/logout.route.js'
import sessionsRoute from './account/sessions.route.js'
import revocationsRoute from './tokens/revocations.route.js'
import authorizeRoute from './authorize/authorize.route.js'
import signinRoute from './authorize/signin.route.js'
import consentPageRoute from './authorize/consent-page.route.js'
import devicePageRoute from './authorize/device-page.route.js'
import endSessionRoute from './authorize/end-session.route.js'
import consentsRoute from './consents/consents.route.js'
import { answerPageError } from './http/page-error-handler.js'
import passwordResetRoute from './account/password-reset.route.js'
import emailVerificationRoute from './account/email-verification.route.js'
import verifyEmailPage from './account/verify-email-page.route.js'
import resetPasswordPage from './account/reset-password-page.route.js'
import passkeysRoute from './account/passkeys.route.js'
import passkeyLoginRoute from './account/passkey-login.route.js'
import webauthnScriptRoute from './pages/webauthn-script.route.js'
import securityPage from './account/security-page.route.js'
import { requireAdmin } from './admin/require-admin.js'
import controlCharacters from './http/control-characters.js'
import adminClientsRoute from './admin/clients.route.js'
import adminUsersRoute from './admin/users.route.js'
import adminSessionsRoute from './admin/sessions.route.js'
import adminKeysRoute from './admin/keys.route.js'
import adminAuditRoute from './admin/audit.route.js'

/** The table of contents: app-wide plugins first, then each capability under its prefix. */
export async function buildApp(deps: Deps): Promise<FastifyInstance> {
  const app = Fastify({
    // The assertion picks Fastify's logger type for the instance; pino's own type is narrower.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    loggerInstance: deps.log as FastifyBaseLogger,
    // http/request-log.ts writes one line per request instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // request.log is made on a request's first log line, not for every request (http/request-logger.ts).
    childLoggerFactory: createRequestLogger,
    trustProxy: toFastifyTrustProxy(deps.config.trustProxy),
    bodyLimit: 64 * 1024,
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    // A client trickling a request body holds a connection at most this long.
    requestTimeout: 30_000,
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.decorateRequest('userAuth', null)
  app.decorateRequest('adminActor', null)
  await app.register(errorHandler)
  await app.register(securityHeaders)
  await app.register(requestLog)
  await app.register(requestMetrics, { metrics: deps.metrics })
  await app.register(overload, { maxEventLoopDelayMs: deps.config.maxEventLoopDelayMs })
  await app.register(formBody)
  await app.register(controlCharacters)
  // CORS only exists for the origins configured; with none, no request pays for the check.
  if (deps.config.corsOrigins.length > 0) await app.register(corsPolicy, { origins: deps.config.corsOrigins })
  await registerRateLimit(app, {
    redis: deps.redis,
    enabled: deps.config.rateLimits,
    onStoreError: storeErrorReporter({
      counter: deps.metrics.rateLimitStoreErrors,
      log: deps.log,
      now: () => deps.clock.now(),
    }),
  })
  // One budget of failed client authentications per source for every route that authenticates clients.
  const authenticate = createClientAuthentication(app, deps, deps.config.tokenRateLimits.failuresPerIp)

  // Before every route: it collects their schemas as they are added.
  await app.register(swagger, openApiOptions(deps.config.issuer))
  await app.register(healthRoute, { deps })
  await app.register(metricsRoute, { deps })
  await app.register(discoveryRoute, { deps })
  await app.register(jwksRoute, { deps })
  await app.register(webauthnScriptRoute)
  await app.register(tokenRoute, { deps, authenticate, prefix: '/oauth' })
  await app.register(deviceAuthorizationRoute, { deps, authenticate, prefix: '/oauth' })
  await app.register(revokeRoute, { deps, authenticate, prefix: '/oauth' })
  await app.register(introspectRoute, { deps, authenticate, prefix: '/oauth' })
  await app.register(userinfoRoute, { deps, prefix: '/oauth' })
  await app.register(revocationsRoute, { deps, prefix: '/oauth' })
  // The first-party API, the only place cookies are read or set: the cookie plugin's hooks stay
  // off the token and JWKS hot paths.
  await app.register(
    async (auth) => {
      // JSON only: a cross-site HTML form cannot send it, so no form can sign a victim in.
      auth.removeContentTypeParser(['application/x-www-form-urlencoded', 'text/plain'])
      await auth.register(cookie)
      await auth.register(registerRoute, { deps })
      await auth.register(loginRoute, { deps })
      await auth.register(loginMfaRoute, { deps })
      await auth.register(refreshRoute, { deps })
      await auth.register(logoutRoute, { deps })
      await auth.register(sessionsRoute, { deps })
      await auth.register(meRoute, { deps })
      await auth.register(passwordChangeRoute, { deps })
      await auth.register(mfaRoute, { deps })
      await auth.register(consentsRoute, { deps })
      await auth.register(passwordResetRoute, { deps })
      await auth.register(emailVerificationRoute, { deps })
      await auth.register(passkeysRoute, { deps })
      await auth.register(passkeyLoginRoute, { deps })
    },
    { prefix: '/auth' },
  )
  // The admin API: JSON only, every route behind an admin client's token (scope latchkey:admin).
  await app.register(
    async (admin) => {
      admin.removeContentTypeParser(['application/x-www-form-urlencoded', 'text/plain'])
      admin.addHook('preHandler', requireAdmin(deps))
      await admin.register(adminClientsRoute, { deps })
      await admin.register(adminUsersRoute, { deps })
      await admin.register(adminSessionsRoute, { deps })
      await admin.register(adminKeysRoute, { deps })
      await admin.register(adminAuditRoute, { deps })
    },
    { prefix: '/admin' },
  )
  // The authorization endpoint and the hosted pages: HTML forms, each with a CSRF token, and the
  // SameSite=Lax sign-in cookie (see server/authorize/signin-cookie.ts).
  await app.register(async (pages) => {
    pages.setErrorHandler(answerPageError)
    await pages.register(cookie)
    await pages.register(authorizeRoute, { deps, prefix: '/oauth' })
    await pages.register(signinRoute, { deps })
    await pages.register(consentPageRoute, { deps })
    // RFC 8628 §3.3: where a device's user enters its code.
    await pages.register(devicePageRoute, { deps })
    // OIDC RP-initiated logout (the end_session_endpoint) and its confirmation page.
    await pages.register(endSessionRoute, { deps, prefix: '/oauth' })
    // The pages the emailed links open.
    await pages.register(verifyEmailPage, { deps })
    await pages.register(resetPasswordPage, { deps })
    // The signed-in user's own page: passkeys.
    await pages.register(securityPage, { deps })
  })
  await app.register(docsRoute)

  return app
}

/** A hop count trusts that many proxies in front of us (the nearest addresses in X-Forwarded-For). */
function toFastifyTrustProxy(trust: TrustProxy): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof trust === 'number') return (_address, hop) => hop < trust
  return trust
}
