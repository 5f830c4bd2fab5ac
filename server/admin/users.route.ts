import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { viewUser } from '../users/user.js'
import {
  eraseUserAsAdmin,
  exportUser,
  resetMfaAsAdmin,
  findUserForAdmin,
  searchUsersPage,
  setUserDisabledAsAdmin,
} from './user-admin.js'
import {
  Deleted,
  ErrorResponse,
  IdParams,
  MfaReset,
  UserExport,
  UserPage,
  UserQuery,
  UserUpdate,
  UserUpdated,
  UserView,
} from './admin.schema.js'

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse }
const conflict = { 409: ErrorResponse }

/** /admin/users: search, show, disable or enable, erase, export, reset second factors. */
const usersRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.get('/users', { schema: { querystring: UserQuery, response: { 200: UserPage, ...errors } } }, (request) => {
    const { email, disabled, cursor, limit } = request.query
    return searchUsersPage(
      deps,
      {
        ...(email !== undefined ? { emailPrefix: email } : {}),
        ...(disabled !== undefined ? { disabled: disabled === 'true' } : {}),
      },
      { ...(cursor !== undefined ? { cursor } : {}), ...(limit !== undefined ? { limit } : {}) },
    )
  })

  app.get('/users/:id', { schema: { params: IdParams, response: { 200: UserView, ...errors } } }, async (request) =>
    viewUser(await findUserForAdmin(deps, request.params.id)),
  )

  app.patch(
    '/users/:id',
    { schema: { params: IdParams, body: UserUpdate, response: { 200: UserUpdated, ...errors } } },
    async (request) =>
      setUserDisabledAsAdmin(
        deps,
        request.adminActor!,
        await findUserForAdmin(deps, request.params.id),
        request.body.disabled,
      ),
  )

  app.delete('/users/:id', { schema: { params: IdParams, response: { 200: Deleted, ...errors } } }, async (request) =>
    eraseUserAsAdmin(deps, request.adminActor!, await findUserForAdmin(deps, request.params.id)),
  )

  app.get(
    '/users/:id/export',
    { schema: { params: IdParams, response: { 200: UserExport, ...errors } } },
    async (request) => exportUser(deps, request.adminActor!, await findUserForAdmin(deps, request.params.id)),
  )

  // The operator's reset of a user's second factors (TOTP, recovery codes, passkeys), as the CLI's
  // `users reset-mfa`: every session ends, the user is mailed, the acting client is audited.
  app.delete(
    '/users/:id/mfa',
    { schema: { params: IdParams, response: { 200: MfaReset, ...errors, ...conflict } } },
    async (request) => resetMfaAsAdmin(deps, request.adminActor!, await findUserForAdmin(deps, request.params.id)),
  )
}

export default usersRoute
