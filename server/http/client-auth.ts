import type { IncomingHttpHeaders } from 'node:http'
import type { Logger } from 'pino'
import { InvalidClient, InvalidRequest } from '../errors.js'
import { authMethodOf, type Client } from '../clients/client.js'
import type { FindClient } from '../clients/client-lookup.js'
import { clientSecretMatches } from '../clients/client-secret.js'
import {
  CLIENT_ASSERTION_TYPE,
  ClientAssertionRejected,
  readAssertionSubject,
  verifyClientAssertion,
  type ClientAssertions,
} from '../clients/client-assertion.js'
import type { Clock } from '../clock.js'
import { hasControlCharacter } from './control-characters.js'

type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none'

interface PresentedCredentials {
  clientId: string
  secret: string | null
  /** private_key_jwt: the signed client assertion (RFC 7523 §2.2). */
  assertion: string | null
  method: ClientAuthMethod
}

interface ClientParams {
  client_id?: string | undefined
  client_secret?: string | undefined
  client_assertion?: string | undefined
  client_assertion_type?: string | undefined
}

/** One answer for every assertion that fails a check: which one failed goes to the log only. */
const ASSERTION_REFUSED =
  'client authentication failed: the client assertion is invalid, expired, already used or not signed by a registered key'

/** RFC 7521 §4.2 and RFC 7523 §2.2: the assertion names its client in `sub`; client_id may repeat it. */
function readClientAssertion(params: ClientParams): PresentedCredentials {
  const { client_assertion: assertion, client_assertion_type: type } = params
  if (assertion === undefined || type === undefined)
    throw new InvalidRequest('client_assertion and client_assertion_type must be sent together')
  // RFC 7521 §4.2.1: an assertion type the server does not support is invalid_client.
  if (type !== CLIENT_ASSERTION_TYPE) throw new InvalidClient(`client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`)
  const clientId = readAssertionSubject(assertion)
  if (clientId === null) throw new InvalidClient('the client assertion is not a JWT whose sub is a client_id')
  if (params.client_id !== undefined && params.client_id !== clientId)
    throw new InvalidRequest('client_id does not match the client assertion')
  return { clientId, secret: null, assertion, method: 'private_key_jwt' }
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
  const assertion = params.client_assertion !== undefined || params.client_assertion_type !== undefined
  if ((authorization !== undefined || params.client_secret !== undefined) && assertion)
    throw new InvalidRequest('use only one client authentication method')
  if (assertion) return readClientAssertion(params)
  if (authorization !== undefined) {
    if (params.client_secret !== undefined) throw new InvalidRequest('use only one client authentication method')
    const basic = readBasic(authorization)
    if (params.client_id !== undefined && params.client_id !== basic.clientId)
      throw new InvalidRequest('client_id does not match the authenticated client')
    return { ...basic, assertion: null, method: 'client_secret_basic' }
  }
  if (params.client_id === undefined) {
    if (params.client_secret !== undefined) throw new InvalidRequest('client_secret requires client_id')
    throw new InvalidClient('client authentication is required')
  }
  if (params.client_secret !== undefined)
    return { clientId: params.client_id, secret: params.client_secret, assertion: null, method: 'client_secret_post' }
  return { clientId: params.client_id, secret: null, assertion: null, method: 'none' }
}

/** private_key_jwt: the client registered keys, and the assertion passes every check (client-assertion.ts). */
async function authenticateByAssertion(
  deps: AuthDeps,
  client: Client | null,
  clientId: string,
  assertion: string,
): Promise<Client> {
  if (!client || authMethodOf(client) !== 'private_key_jwt') {
    deps.log.info({ event: 'client_auth.assertion_rejected', client_id: clientId, reason: 'not_a_key_client' })
    throw new InvalidClient(ASSERTION_REFUSED)
  }
  const issuer = deps.config.issuer
  try {
    await verifyClientAssertion(deps, client, assertion, { issuer, tokenEndpoint: `${issuer}/oauth/token` })
  } catch (error) {
    if (!(error instanceof ClientAssertionRejected)) throw error
    // A replayed assertion was valid: someone else holds it. Worth a warning, not just a note.
    deps.log[error.reason === 'replayed' ? 'warn' : 'info'](
      { event: 'client_auth.assertion_rejected', client_id: client.id, reason: error.reason },
      'a client assertion was refused',
    )
    throw new InvalidClient(ASSERTION_REFUSED)
  }
  return client
}

interface AuthDeps {
  findClient: FindClient
  clock: Clock
  clientAssertions: ClientAssertions
  config: { issuer: string }
  log: Logger
}

/**
 * Authenticates the client of an OAuth request. A confidential client must prove its secret or,
 * when it registered keys, sign an assertion (private_key_jwt); a public one only names itself.
 * Every failure is the same invalid_client, and an unknown client costs the same hash-and-compare
 * as a wrong secret.
 */
export async function authenticateClient(
  deps: AuthDeps,
  headers: IncomingHttpHeaders,
  params: ClientParams,
): Promise<Client> {
  const presented = readClientCredentials(headers, params)
  const client = presented.clientId.length <= 128 ? await deps.findClient(presented.clientId) : null
  if (presented.assertion !== null)
    return authenticateByAssertion(deps, client, presented.clientId, presented.assertion)
  if (presented.secret !== null) {
    const valid = clientSecretMatches(client, presented.secret, deps.clock.now())
    // A client that registered keys has no secret (client-secret.ts fails it with the same work).
    if (!client || !valid || authMethodOf(client) !== 'client_secret_basic') throw new InvalidClient()
    return client
  }
  if (!client || client.type !== 'public') throw new InvalidClient()
  return client
}
