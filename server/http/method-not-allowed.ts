import type { FastifyInstance } from 'fastify'
import { MethodNotAllowed } from '../errors.js'

/** RFC 9110 §15.5.6: the other methods at a POST-only endpoint get 405 with `Allow`, in the usual error shape. */
export function refuseMethodsOtherThanPost(app: FastifyInstance, url: string): void {
  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url,
    // Not operations of the API: they exist only to answer 405, so the OpenAPI document leaves them out.
    schema: { hide: true },
    handler: async () => {
      throw new MethodNotAllowed('POST')
    },
  })
}
