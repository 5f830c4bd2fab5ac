import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AuthenticationResponseJSON } from '@simplewebauthn/server'
import type { Deps } from '../deps.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { loginRateLimit } from '../http/rate-limit.js'
import { FIRST_PARTY_CLIENT_ID } from '../clients/client.js'
import { authenticatePasskey, createAuthenticationOptions } from '../passkeys/authenticate-passkey.js'
import { LoginBody, RequestOptions } from '../passkeys/passkeys.schema.js'
import { startSession } from '../sessions/start-session.js'
import { issueUserAccessToken } from '../tokens/user-access-token.js'
import { AccessTokenResponse, ErrorResponse } from '../users/user.schema.js'
import { setSessionCookie } from './session-cookie.js'
import { userAgentOf } from '../http/user-agent.js'

/**
 * POST /auth/passkeys/login/options and /auth/passkeys/login: sign-in with a discoverable passkey
 * alone, answered like POST /auth/login (access token, session cookie), with the session's `amr`
 * saying which kind of key and that it was multi-factor.
 */
const passkeyLoginRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.post(
    '/passkeys/login/options',
    { schema: { response: { 200: RequestOptions, 429: ErrorResponse } }, config: { rateLimit: loginRateLimit } },
    async () => createAuthenticationOptions(deps),
  )

  app.post(
    '/passkeys/login',
    {
      schema: {
        body: LoginBody,
        response: { 200: AccessTokenResponse, 400: ErrorResponse, 401: ErrorResponse, 429: ErrorResponse },
      },
      config: { rateLimit: loginRateLimit },
    },
    async (request, reply) => {
      // auth_time is when the check began: a cut-off committed meanwhile refuses the session (H1).
      const authTime = deps.clock.now()
      const { user, passkey, amr } = await authenticatePasskey(
        deps,
        request.body.response as AuthenticationResponseJSON,
        { ip: request.ip },
      )
      const { session, refreshToken } = await startSession(deps, user, {
        clientId: FIRST_PARTY_CLIENT_ID,
        scopes: [],
        audience: deps.config.defaultAudience,
        amr,
        authTime,
        ip: request.ip,
        userAgent: userAgentOf(request),
      })
      const access = await issueUserAccessToken(deps, user, session)
      await recordAuditEvent(deps, {
        event: 'login.succeeded',
        userId: user.id,
        clientId: FIRST_PARTY_CLIENT_ID,
        sessionId: session.id,
        ip: request.ip,
        details: { method: 'passkey', passkey_id: passkey.id },
      })
      setSessionCookie(reply, refreshToken, session.expiresAt, deps.clock.now())
      return { access_token: access.token, token_type: 'Bearer' as const, expires_in: access.expiresIn }
    },
  )
}

export default passkeyLoginRoute
