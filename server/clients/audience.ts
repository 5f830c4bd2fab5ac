import { InvalidTarget } from '../errors.js'
import type { Client } from './client.js'
import { findAbsoluteUriProblem } from '../url-rules.js'

/**
 * The token's audience: the RFC 8707 `resource` when the client may use it, otherwise the
 * client's first registered audience, otherwise the configured default.
 */
export function resolveAudience(
  resource: string | string[] | undefined,
  client: Client,
  defaultAudience: string,
): string {
  const allowed = client.audiences.length > 0 ? client.audiences : [defaultAudience]
  if (resource === undefined) return allowed[0]!
  if (Array.isArray(resource)) throw new InvalidTarget('request one resource per token')
  if (findAbsoluteUriProblem(resource) !== null)
    throw new InvalidTarget('resource must be an absolute URI without a fragment')
  if (!allowed.includes(resource)) throw new InvalidTarget('resource is not allowed for this client')
  return resource
}
