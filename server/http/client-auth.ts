import type { IncomingHttpHeaders } from 'node:http'
import { InvalidClient, InvalidRequest } from '../errors.js'
import type { Client } from '../clients/client.js'
import type { FindClient } from '../clients/client-lookup.js'
import { clientSecretMatches } from '../clients/client-secret.js'
import { hasControlCharacter } from './control-characters.js'

type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none'

interface PresentedCredentials {
  clientId: string
  secret: string | null
  method: ClientAuthMethod
}

interface ClientParams {
  client_id?: string | undefined
  client_secret?: string | undefined
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before being joined for Basic. */
function decodeBasicPart(text: string): string {
  return decodeURIComponent(text.replace(/\+/g, ' '))
}

function readBasic(authorization: string): { clientId: string; secret: string } {
  const match = /^Basic ([A-Za-z0-9+/]+={0,2})$/i.exec(authorization.trim())
  if (!match) throw new InvalidClient('the Authorization header must use the Basic scheme with base64 credentials')
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 1) throw new InvalidClient('malformed Basic credentials')
  let credentials: { clientId: string; secret: string }
  try {
    credentials = {
      clientId: decodeBasicPart(decoded.slice(0, colon)),
      secret: decodeBasicPart(decoded.slice(colon + 1)),
    }
  } catch {
    throw new InvalidClient('malformed Basic credentials')
  }
  // The client id is looked up in the database, where PostgreSQL refuses NUL in text.
  if (hasControlCharacter(credentials.clientId)) throw new InvalidClient('malformed Basic credentials')
  return credentials
}

/** Which credentials the request carries; more than one method at once is invalid_request (RFC 6749 §2.3). */
function readClientCredentials(headers: IncomingHttpHeaders, params: ClientParams): PresentedCredentials {
  const authorization = headers.authorization
  if (authorization !== undefined) {
    if (params.client_secret !== undefined) throw new InvalidRequest('use only one client authentication method')
    const basic = readBasic(authorization)
    if (params.client_id !== undefined && params.client_id !== basic.clientId)
      throw new InvalidRequest('client_id does not match the authenticated client')
    return { ...basic, method: 'client_secret_basic' }
  }
  if (params.client_id === undefined) {
    if (params.client_secret !== undefined) throw new InvalidRequest('client_secret requires client_id')
    throw new InvalidClient('client authentication is required')
  }
  if (params.client_secret !== undefined)
    return { clientId: params.client_id, secret: params.client_secret, method: 'client_secret_post' }
  return { clientId: params.client_id, secret: null, method: 'none' }
}

/**
 * Authenticates the client of an OAuth request. A confidential client must prove its secret; a
 * public one only names itself. Every failure is the same invalid_client, and an unknown client
 * costs the same hash-and-compare as a wrong secret.
 */
export async function authenticateClient(
  deps: { findClient: FindClient; clock: { now(): number } },
  headers: IncomingHttpHeaders,
  params: ClientParams,
): Promise<Client> {
  const presented = readClientCredentials(headers, params)
  const client = presented.clientId.length <= 128 ? await deps.findClient(presented.clientId) : null
  if (presented.secret !== null) {
    const valid = clientSecretMatches(client, presented.secret, deps.clock.now())
    if (!client || !valid) throw new InvalidClient()
    return client
  }
  if (!client || client.type !== 'public') throw new InvalidClient()
  return client
}
