import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { listSigningKeys, rotateSigningKeysAsAdmin } from './key-admin.js'
import { ErrorResponse, KeyList, KeyRotation, RotationResult } from './admin.schema.js'

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse }

/** /admin/keys: the signing keys and their states; rotate now. */
const keysRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.get('/keys', { schema: { response: { 200: KeyList, ...errors } } }, async () => ({
    items: await listSigningKeys(deps),
    next_cursor: null,
  }))

  app.post('/keys/rotate', { schema: { body: KeyRotation, response: { 200: RotationResult, ...errors } } }, (request) =>
    rotateSigningKeysAsAdmin(deps, request.adminActor!, deps.rotateSigningKeys, {
      revokeCurrent: request.body?.revoke_current ?? false,
    }),
  )
}

export default keysRoute
