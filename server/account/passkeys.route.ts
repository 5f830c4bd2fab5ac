import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RegistrationResponseJSON } from '@simplewebauthn/server'
import type { FastifyRequest } from 'fastify'
import type { Deps } from '../deps.js'
import { InvalidToken } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { requireUser } from '../sessions/bearer-auth.js'
import { findUserById } from '../users/user.store.js'
import { ErrorResponse } from '../users/user.schema.js'
import { RecentSigninProof } from '../mfa/mfa.schema.js'
import { assertRecentSignin } from '../mfa/recent-signin.js'
import { removePasskey } from '../mfa/remove-passkey.js'
import { findPasskeysOfUser } from '../passkeys/passkey.store.js'
import { passkeyView } from '../passkeys/passkey-view.js'
import { createRegistrationOptions, registerPasskey } from '../passkeys/register-passkey.js'
import { CreationOptions, PasskeyList, PasskeyParams, PasskeyView, RegisterBody } from '../passkeys/passkeys.schema.js'

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 429: ErrorResponse }

/**
 * The signed-in user's passkeys (Bearer): creation options, registration, list, removal. Sign-in
 * with a passkey is account/passkey-login.route.ts (it sets the session cookie). A passkey is a
 * second factor, so adding or removing one needs a recent sign-in or the password, as TOTP does
 * (mfa/recent-signin.ts).
 */
const passkeysRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const preHandler = requireUser(deps.verifier.verifyAccessToken, deps.firstPartyAudiences)
  const signedInUser = async (userId: string) => {
    const user = await findUserById(deps.db, userId)
    if (!user || user.disabled) throw new InvalidToken()
    return user
  }
  const withRecentSignin = async (request: FastifyRequest, password: string | undefined) => {
    const user = await signedInUser(request.userAuth!.userId)
    await assertRecentSignin(deps, user, { authTime: request.userAuth!.claims.auth_time, password, ip: request.ip })
    return user
  }

  app.post(
    '/passkeys/register/options',
    {
      schema: { body: RecentSigninProof, response: { 200: CreationOptions, ...errors } },
      // The proof is optional: a recent sign-in needs no body at all.
      preValidation: async (request) => {
        request.body ??= {}
      },
      preHandler,
    },
    async (request) => createRegistrationOptions(deps, await withRecentSignin(request, request.body.password)),
  )

  app.post(
    '/passkeys/register',
    {
      schema: { body: RegisterBody, response: { 201: PasskeyView, ...errors } },
      preHandler,
    },
    async (request, reply) => {
      const { userId, sessionId } = request.userAuth!
      const user = await withRecentSignin(request, request.body.password)
      const passkey = await registerPasskey(
        deps,
        user,
        request.body.response as RegistrationResponseJSON,
        request.body.name,
      )
      await recordAuditEvent(deps, {
        event: 'passkey.added',
        userId,
        sessionId,
        ip: request.ip,
        details: { passkey_id: passkey.id },
      })
      return reply.code(201).send(passkeyView(passkey))
    },
  )

  app.get(
    '/passkeys',
    { schema: { response: { 200: PasskeyList, 401: ErrorResponse } }, preHandler },
    async (request) => ({
      passkeys: (await findPasskeysOfUser(deps.db, request.userAuth!.userId)).map(passkeyView),
    }),
  )

  app.delete(
    '/passkeys/:id',
    {
      schema: {
        params: PasskeyParams,
        body: RecentSigninProof,
        response: { 204: { type: 'null' }, ...errors, 404: ErrorResponse },
      },
      preValidation: async (request) => {
        request.body ??= {}
      },
      preHandler,
    },
    async (request, reply) => {
      const { userId, sessionId } = request.userAuth!
      await withRecentSignin(request, request.body.password)
      const passkey = await removePasskey(deps, userId, request.params.id)
      await recordAuditEvent(deps, {
        event: 'passkey.removed',
        userId,
        sessionId,
        ip: request.ip,
        details: { passkey_id: passkey.id },
      })
      return reply.code(204).send(null)
    },
  )
}

export default passkeysRoute
