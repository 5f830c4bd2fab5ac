import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import {
  createClientAsAdmin,
  deleteClientAsAdmin,
  findClientForAdmin,
  listClientsPage,
  rotateClientSecret,
  updateClientAsAdmin,
} from './client-admin.js'
import { viewClient } from '../clients/client.js'
import {
  ClientCreate,
  ClientPage,
  ClientUpdate,
  ClientView,
  ClientWithSecret,
  Deleted,
  ErrorResponse,
  IdParams,
  PageQuery,
  RotatedClient,
  SecretRotation,
} from './admin.schema.js'

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse }

/** /admin/clients: list, show, create, update, delete, rotate the secret. */
const clientsRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  app.get('/clients', { schema: { querystring: PageQuery, response: { 200: ClientPage, ...errors } } }, (request) =>
    listClientsPage(deps, request.query),
  )

  app.post(
    '/clients',
    { schema: { body: ClientCreate, response: { 201: ClientWithSecret, ...errors } } },
    async (request, reply) => {
      const body = request.body
      const type = body.type ?? 'confidential'
      const created = await createClientAsAdmin(deps, request.adminActor!, {
        name: body.name,
        type,
        grantTypes: body.grant_types,
        scopes: body.scope.split(' ').filter(Boolean),
        audiences: body.audiences ?? [],
        redirectUris: body.redirect_uris ?? [],
        firstParty: body.first_party ?? false,
        jwksUri: body.jwks_uri ?? null,
        jwks: body.jwks ?? null,
        requireDpop: body.require_dpop ?? false,
        introspection: body.introspection ?? false,
        postLogoutRedirectUris: body.post_logout_redirect_uris ?? [],
        backchannelLogoutUri: body.backchannel_logout_uri ?? null,
        requireMfa: body.require_mfa ?? false,
      })
      return reply.code(201).send(created)
    },
  )

  app.get('/clients/:id', { schema: { params: IdParams, response: { 200: ClientView, ...errors } } }, async (request) =>
    viewClient(await findClientForAdmin(deps, request.params.id)),
  )

  app.patch(
    '/clients/:id',
    { schema: { params: IdParams, body: ClientUpdate, response: { 200: ClientView, ...errors } } },
    (request) => {
      const body = request.body
      const options = { revokeOld: body.revoke_old === true }
      return updateClientAsAdmin(
        deps,
        request.adminActor!,
        request.params.id,
        {
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(body.grant_types !== undefined ? { grantTypes: body.grant_types } : {}),
          ...(body.scope !== undefined ? { scopes: body.scope.split(' ').filter(Boolean) } : {}),
          ...(body.audiences !== undefined ? { audiences: body.audiences } : {}),
          ...(body.redirect_uris !== undefined ? { redirectUris: body.redirect_uris } : {}),
          ...(body.first_party !== undefined ? { firstParty: body.first_party } : {}),
          ...(body.jwks_uri !== undefined ? { jwksUri: body.jwks_uri } : {}),
          ...(body.jwks !== undefined ? { jwks: body.jwks } : {}),
          ...(body.require_dpop !== undefined ? { requireDpop: body.require_dpop } : {}),
          ...(body.introspection !== undefined ? { introspection: body.introspection } : {}),
          ...(body.post_logout_redirect_uris !== undefined
            ? { postLogoutRedirectUris: body.post_logout_redirect_uris }
            : {}),
          ...(body.backchannel_logout_uri !== undefined ? { backchannelLogoutUri: body.backchannel_logout_uri } : {}),
          ...(body.require_mfa !== undefined ? { requireMfa: body.require_mfa } : {}),
        },
        options,
      )
    },
  )

  app.delete('/clients/:id', { schema: { params: IdParams, response: { 200: Deleted, ...errors } } }, (request) =>
    deleteClientAsAdmin(deps, request.adminActor!, request.params.id),
  )

  app.post(
    '/clients/:id/secret',
    { schema: { params: IdParams, body: SecretRotation, response: { 200: RotatedClient, ...errors } } },
    (request) =>
      rotateClientSecret(deps, request.adminActor!, request.params.id, {
        revokeOld: request.body?.revoke_old ?? false,
      }),
  )
}

export default clientsRoute
