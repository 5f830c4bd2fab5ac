import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RegistrationResponseJSON } from '@simplewebauthn/server'
import type { Deps } from '../deps.js'
import { InvalidToken } from '../errors.js'
import { recordAuditEvent } from '../audit/record-audit-event.js'
import { requireUser } from '../sessions/bearer-auth.js'
import { findUserById } from '../users/user.store.js'
import { ErrorResponse } from '../users/user.schema.js'
import { findPasskeysOfUser } from './passkey.store.js'
import { passkeyView } from './passkey-view.js'
import { createRegistrationOptions, registerPasskey } from './register-passkey.js'
import { removePasskey } from './remove-passkey.js'
import { CreationOptions, PasskeyList, PasskeyParams, PasskeyView, RegisterBody } from './passkeys.schema.js'

/**
 * The signed-in user's passkeys (Bearer): creation options, registration, list, removal. Sign-in
 * with a passkey is account/passkey-login.route.ts (it sets the session cookie).
 */
const passkeysRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const preHandler = requireUser(deps.verifier.verifyAccessToken, deps.firstPartyAudiences)
  const signedInUser = async (userId: string) => {
    const user = await findUserById(deps.db, userId)
    if (!user || user.disabled) throw new InvalidToken()
    return user
  }

  app.post(
    '/passkeys/register/options',
    { schema: { response: { 200: CreationOptions, 401: ErrorResponse } }, preHandler },
    async (request) => createRegistrationOptions(deps, await signedInUser(request.userAuth!.userId)),
  )

  app.post(
    '/passkeys/register',
    {
      schema: { body: RegisterBody, response: { 201: PasskeyView, 400: ErrorResponse, 401: ErrorResponse } },
      preHandler,
    },
    async (request, reply) => {
      const { userId, sessionId } = request.userAuth!
      const user = await signedInUser(userId)
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
      schema: { params: PasskeyParams, response: { 204: { type: 'null' }, 401: ErrorResponse, 404: ErrorResponse } },
      preHandler,
    },
    async (request, reply) => {
      const { userId, sessionId } = request.userAuth!
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
