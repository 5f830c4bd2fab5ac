import type { FastifyPluginAsync } from 'fastify'
import type { Deps } from '../deps.js'
import { supportedGrantTypes } from '../tokens/token.route.js'
import { buildMetadata } from './metadata.js'

const cacheControl = 'public, max-age=300'

/** RFC 8414 §3 at both well-known paths; the document is serialised once at startup. */
const discoveryRoute: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const body = JSON.stringify(buildMetadata(deps.config, supportedGrantTypes))
  const schema = { response: { 200: { type: 'object', additionalProperties: true } } }
  for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
    app.get(path, { schema }, async (_request, reply) =>
      reply.header('cache-control', cacheControl).type('application/json; charset=utf-8').send(body),
    )
  }
}

export default discoveryRoute
