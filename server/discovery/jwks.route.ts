import type { FastifyPluginAsync } from 'fastify'
import type { Deps } from '../deps.js'

/**
 * GET /.well-known/jwks.json: the pre-serialised public key set with a strong ETag. max-age is
 * shorter than the time a next key is published before it signs (keys/key-lifecycle.ts), so a
 * verifier that honours it always knows a key before it sees a token signed with it.
 */
const jwksRoute: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const cacheControl = `public, max-age=${Math.floor(deps.config.jwksMaxAgeMs / 1000)}`
  const schema = {
    response: {
      200: {
        type: 'object',
        properties: { keys: { type: 'array', items: { type: 'object', additionalProperties: { type: 'string' } } } },
      },
      304: { type: 'null', description: 'the key set has not changed since the ETag given' },
    },
  }
  app.get('/.well-known/jwks.json', { schema }, async (request, reply) => {
    const jwks = deps.keystore.jwks()
    reply.header('cache-control', cacheControl).header('etag', jwks.etag)
    if (request.headers['if-none-match'] === jwks.etag) return reply.code(304).send()
    return reply.type('application/json; charset=utf-8').send(jwks.json)
  })
}

export default jwksRoute
