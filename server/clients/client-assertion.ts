import type { Redis } from 'ioredis'
import { decodeJwt, decodeProtectedHeader, errors, importJWK, jwtVerify, type JWTPayload } from 'jose'
import type { Clock } from '../clock.js'
import type { Db } from '../db/database.js'
import { createAssertionReplayGuard, type AssertionReplayGuard } from './assertion-replay.js'
import type { Client } from './client.js'
import { createClientKeySets, type ClientKeySets } from './client-key-sets.js'
import { ASSERTION_ALGORITHMS } from './client-public-keys.js'

// private_key_jwt (RFC 7523 §2.2 and §3, OIDC Core §9): the client proves itself with a JWT it
// signed with a key it registered. Every check is a named step; the reason a check failed goes to
// the log for the operator and never to the client, which only learns that authentication failed.

/** RFC 7523 §2.2 */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** An assertion may be valid for at most this long from now: used jtis are kept as long. */
const MAX_ASSERTION_LIFETIME_S = 300
/** Tolerated difference between the client's clock and ours, for exp, nbf and the lifetime bound. */
const CLOCK_TOLERANCE_S = 15

/** Why an assertion was refused; stable names for the log. */
export type AssertionRejection =
  | 'malformed'
  | 'algorithm'
  | 'type'
  | 'unknown_key'
  | 'signature'
  | 'claims'
  | 'expired'
  | 'audience'
  | 'lifetime'
  | 'replayed'

export class ClientAssertionRejected extends Error {
  constructor(readonly reason: AssertionRejection) {
    super(`client assertion rejected: ${reason}`)
    this.name = 'ClientAssertionRejected'
  }
}

/** What verifying assertions needs beyond the request: the clients' keys and the used jtis. */
export interface ClientAssertions {
  keySets: ClientKeySets
  replay: AssertionReplayGuard
}

export function createClientAssertions(deps: {
  db: Db
  redis: Redis | null
  clock: Clock
  onKeySetError: (error: unknown, uri: string) => void
}): ClientAssertions {
  return {
    keySets: createClientKeySets({ clock: deps.clock, onError: deps.onKeySetError }),
    replay: createAssertionReplayGuard(deps),
  }
}

/**
 * The client an assertion names (RFC 7523 §3: `sub` is the client_id), read without verifying
 * anything, only to find the client whose keys will verify it. Null if it is not a JWT.
 */
export function readAssertionSubject(assertion: string): string | null {
  try {
    const sub = decodeJwt(assertion).sub
    return typeof sub === 'string' && sub.length >= 1 && sub.length <= 128 ? sub : null
  } catch {
    return null
  }
}

/**
 * RFC 8725 §3.11: an access token, an ID token or a DPoP proof is not a client assertion. Untyped
 * assertions and `JWT` are what clients send today; `client-authentication+jwt` is the explicit
 * type of draft-ietf-oauth-rfc7523bis.
 */
function readAssertionType(typ: unknown): 'explicit' | 'untyped' | null {
  if (typ === undefined) return 'untyped'
  if (typeof typ !== 'string') return null
  const bare = typ.toLowerCase().replace(/^application\//, '')
  if (bare === 'client-authentication+jwt') return 'explicit'
  return bare === 'jwt' ? 'untyped' : null
}

function readHeader(assertion: string): { alg: string; kid: string | null; explicitType: boolean } {
  let header
  try {
    header = decodeProtectedHeader(assertion)
  } catch {
    throw new ClientAssertionRejected('malformed')
  }
  // Never `none`, never HMAC: an HS256 assertion "signed" with a public key proves nothing.
  if (typeof header.alg !== 'string' || !(ASSERTION_ALGORITHMS as readonly string[]).includes(header.alg))
    throw new ClientAssertionRejected('algorithm')
  const type = readAssertionType(header.typ)
  if (type === null) throw new ClientAssertionRejected('type')
  if (header.kid !== undefined && (typeof header.kid !== 'string' || header.kid.length > 200))
    throw new ClientAssertionRejected('malformed')
  return { alg: header.alg, kid: header.kid ?? null, explicitType: type === 'explicit' }
}

/** The signature, iss = sub = client_id, exp (and nbf if present), with each candidate key in turn. */
async function verifySignedClaims(
  deps: { clientAssertions: ClientAssertions; clock: Clock },
  client: Client,
  assertion: string,
  header: { alg: string; kid: string | null },
): Promise<JWTPayload> {
  const keys = await deps.clientAssertions.keySets.keysFor(client, header)
  if (keys.length === 0) throw new ClientAssertionRejected('unknown_key')
  for (const key of keys) {
    let cryptoKey
    try {
      cryptoKey = await importJWK(key.jwk, header.alg)
    } catch {
      continue
    }
    try {
      const { payload } = await jwtVerify(assertion, cryptoKey, {
        algorithms: [header.alg],
        issuer: client.id,
        subject: client.id,
        requiredClaims: ['exp', 'jti', 'aud'],
        currentDate: new Date(deps.clock.now()),
        clockTolerance: CLOCK_TOLERANCE_S,
      })
      return payload
    } catch (error) {
      if (error instanceof errors.JWSSignatureVerificationFailed) continue
      if (error instanceof errors.JWTExpired) throw new ClientAssertionRejected('expired')
      if (error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTInvalid)
        throw new ClientAssertionRejected('claims')
      // A key jose refuses for this algorithm (an RSA key under 2048 bits): the next may do.
      if (error instanceof errors.JOSEError || error instanceof TypeError) continue
      throw error
    }
  }
  throw new ClientAssertionRejected('signature')
}

/**
 * draft-ietf-oauth-rfc7523bis: the audience is Latchkey's issuer identifier, as the assertion's one
 * audience. The token endpoint URL is also accepted from untyped assertions, because OIDC Core §9
 * (before its 2025 errata) told clients to use it; an explicitly typed assertion must use the issuer.
 * No other endpoint's URL is accepted, at any endpoint: the issuer is the one value that names
 * Latchkey wherever the assertion is presented (revocation and introspection included).
 */
function assertAudience(
  payload: JWTPayload,
  audiences: { issuer: string; tokenEndpoint: string },
  explicitType: boolean,
): void {
  const aud = Array.isArray(payload.aud) && payload.aud.length === 1 ? payload.aud[0] : payload.aud
  const accepted = explicitType ? [audiences.issuer] : [audiences.issuer, audiences.tokenEndpoint]
  if (typeof aud !== 'string' || !accepted.includes(aud)) throw new ClientAssertionRejected('audience')
}

/** RFC 7523 §3 item 4 lets the server limit how far ahead exp may be; Latchkey allows 5 minutes. */
function assertLifetime(payload: JWTPayload, now: number): number {
  const exp = payload.exp!
  if (exp > Math.floor(now / 1000) + MAX_ASSERTION_LIFETIME_S + CLOCK_TOLERANCE_S)
    throw new ClientAssertionRejected('lifetime')
  return exp
}

/**
 * Verifies a client assertion for `client` (found by its sub) and uses up its jti. Throws
 * ClientAssertionRejected with the reason; the caller answers invalid_client whatever it is.
 */
export async function verifyClientAssertion(
  deps: { clientAssertions: ClientAssertions; clock: Clock },
  client: Client,
  assertion: string,
  audiences: { issuer: string; tokenEndpoint: string },
): Promise<void> {
  const header = readHeader(assertion)
  const payload = await verifySignedClaims(deps, client, assertion, header)
  assertAudience(payload, audiences, header.explicitType)
  const now = deps.clock.now()
  const exp = assertLifetime(payload, now)
  const jti = payload.jti
  if (typeof jti !== 'string' || jti === '' || jti.length > 256) throw new ClientAssertionRejected('claims')
  // Kept until the assertion could no longer pass the exp check anyway.
  // Whole milliseconds: exp may be fractional (RFC 7519 NumericDate), a bigint column and PX are not.
  const keepUntil = Math.ceil((exp + CLOCK_TOLERANCE_S) * 1000)
  if (!(await deps.clientAssertions.replay.claim(client.id, jti, keepUntil, now)))
    throw new ClientAssertionRejected('replayed')
}
