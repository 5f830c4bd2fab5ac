import type { FastifyPluginAsync } from 'fastify'
import type { Deps } from '../deps.js'
import { supportedGrantTypes } from '../tokens/token.route.js'
import { buildMetadata } from './metadata.js'

const cacheControl = 'public, max-age=300'

/** The algorithms of the published keys, the active key's first; the configured one if none is published. */
function signingAlgsOf(keystore: Deps['keystore'], configured: string): string[] {
  const algs = new Set<string>()
  const active = keystore.activeAlg()
  if (active !== null) algs.add(active)
  for (const key of keystore.jwks().keys) algs.add(key.alg)
  return algs.size > 0 ? [...algs] : [configured]
}

/**
 * RFC 8414 §3 at both well-known paths; the document is serialised again only when the published
 * keys change (an algorithm change lists the old and the new algorithm while both are in use).
 */
const discoveryRoute: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  let cached: { etag: string; body: string } | null = null
  const currentBody = (): string => {
    const etag = `${deps.keystore.jwks().etag}|${deps.keystore.activeKid() ?? ''}`
    if (cached?.etag !== etag) {
      const algs = signingAlgsOf(deps.keystore, deps.config.signingAlg)
      cached = { etag, body: JSON.stringify(buildMetadata(deps.config, supportedGrantTypes, algs)) }
    }
    return cached.body
  }
  const schema = { response: { 200: { type: 'object', additionalProperties: true } } }
  for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
    app.get(path, { schema }, async (_request, reply) =>
      reply.header('cache-control', cacheControl).type('application/json; charset=utf-8').send(currentBody()),
    )
  }
}

export default discoveryRoute
