import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Deps } from '../deps.js'
import { createRevocationFeed, type RevocationFeedBody } from './revocation-feed.js'
import { RevocationsQuery, RevocationsResponse } from './revocations.schema.js'
import { ErrorResponse } from './token.schema.js'

/** Revalidate every time; the ETag makes that a 304 answered from memory. */
const CACHE_CONTROL = 'public, no-cache'

/**
 * GET /oauth/revocations: revoked sessions (sid), access tokens (jti) and per-user cut-offs that can
 * still affect an unexpired access token, for resource services to poll (verifier/). Public: ids
 * only. `?since=<cursor>` returns only what changed since an earlier answer.
 */
const revocationsRoute: FastifyPluginAsyncTypebox<{ deps: Deps }> = async (app, { deps }) => {
  const feed = createRevocationFeed(deps)
  const schema = {
    querystring: RevocationsQuery,
    response: {
      200: RevocationsResponse,
      304: Type.Null({ description: 'nothing changed since the ETag given' }),
      400: ErrorResponse,
    },
  }
  // The conditional GET is answered in onRequest, before the query is parsed and validated: a
  // poller whose copy is current costs no more than a static 304.
  const answerNotModified = async (request: FastifyRequest, reply: FastifyReply) => {
    const snapshot = await feed.snapshot()
    reply.header('cache-control', CACHE_CONTROL).header('etag', snapshot.etag)
    // No payload at all: send(null) would declare a 4-byte body on a 304, which breaks clients.
    if (matchesEtag(request.headers['if-none-match'], snapshot.etag)) return reply.code(304).send()
  }
  app.get('/revocations', { schema, logLevel: 'warn', onRequest: answerNotModified }, async (request, reply) => {
    // The snapshot may have been re-read since onRequest; the ETag sent is the body's own.
    const snapshot = await feed.snapshot()
    reply.header('etag', snapshot.etag)
    const since = request.query.since
    const changes = since === undefined ? null : feed.changesSince(snapshot, Number(since))
    if (changes) return reply.code(200).send(changes)
    // Already serialised once per snapshot: Fastify sends a string with a JSON type as it is.
    return reply
      .code(200)
      .type('application/json; charset=utf-8')
      .send(snapshot.json as unknown as RevocationFeedBody)
  })
}

/** RFC 9110 §13.1.2: a list of entity tags, weak comparison. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  if (header === etag) return true
  return header.split(',').some((tag) => {
    const t = tag.trim()
    return t === '*' || t === etag || t === `W/${etag}`
  })
}

export default revocationsRoute
