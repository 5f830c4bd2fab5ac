import {
  errors as joseErrors,
  jwtVerify,
  type CryptoKey,
  type JWTHeaderParameters,
  type JWTPayload,
  type JWTVerifyOptions,
} from 'jose'
import { assertAlgorithms, DEFAULT_ALGORITHMS } from './algorithms.js'
import { assertFetchableUrl, assertIssuerUrl, discoverIssuer } from './discovery.js'
import { VerifierError } from './errors.js'
import { createKeySet } from './key-set.js'
import { createRevocationList } from './revocation-list.js'
import { checkDpopProof, createMemoryDpopReplayStore, type DpopReplayStore, type DpopRequest } from './dpop.js'

export interface VerifierOptions {
  /** The issuer exactly as Latchkey's `iss` (LATCHKEY_ISSUER), e.g. `https://id.example.com`. */
  issuer: string
  /** This service's identifier; the token's `aud` must contain it (or one of them). */
  audience: string | readonly string[]
  /** Allowed JWS algorithms; defaults to every asymmetric one. Never `none` or HMAC. */
  algorithms?: readonly string[]
  /** Seconds of leeway on exp and nbf; default 5, at most 60 (what the feed's skew covers). */
  clockToleranceSeconds?: number
  /** Skip discovery and use this JWKS URL. */
  jwksUri?: string
  /** Default `${issuer}/oauth/revocations`; `false` turns the revocation check off. */
  revocationsUri?: string | false
  /** How often the revocation feed is polled; default 5000 ms, at least 100. */
  revocationPollIntervalMs?: number
  /** An unknown kid refetches the key set at most this often; default 30000 ms. */
  keyRefetchCooldownMs?: number
  /** Network deadline for each request to Latchkey; default 5000 ms. */
  fetchTimeoutMs?: number
  /** Epoch milliseconds; inject a clock in tests. Defaults to Date.now. */
  clock?: () => number
  /** Called with background failures (key set or feed unreachable); the verifier keeps its last state. */
  onError?: (error: unknown) => void
  /**
   * Once the revocation feed has not been read for this long (Latchkey or the feed unreachable),
   * tokens are refused with `revocations_unavailable` rather than checked against a list that may
   * miss a revocation. Default 10 minutes (at least two poll intervals); `Infinity` keeps accepting on the last list.
   */
  maxRevocationStalenessMs?: number
  /**
   * DPoP (RFC 9449) for tokens bound to a key (cnf.jkt): where proof jtis are remembered (default
   * in memory, one process only) and how far a proof's iat may be from our clock (default 60 s).
   */
  dpop?: { replayStore?: DpopReplayStore; iatWindowSeconds?: number }
}

/** RFC 9068 §2.2 claims of a Latchkey access token. */
export interface AccessTokenClaims extends JWTPayload {
  iss: string
  sub: string
  aud: string | string[]
  exp: number
  iat: number
  jti: string
  client_id: string
  scope?: string
  /** Session id, on user tokens. */
  sid?: string
  auth_time?: number
  amr?: string[]
  /** RFC 9449 §6.1: the token is bound to the DPoP key with this RFC 7638 thumbprint. */
  cnf?: { jkt?: string }
}

const FORBIDDEN_HEADERS = ['jku', 'x5u', 'x5c', 'jwk'] as const
const REQUIRED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id']
/** Larger than any token Latchkey issues; anything bigger is refused before parsing. */
const MAX_TOKEN_LENGTH = 8 * 1024
/** The whole `Authorization` header: the longest token plus room for the scheme and spaces; a longer one is refused before it is read. */
const MAX_AUTHORIZATION_LENGTH = MAX_TOKEN_LENGTH + 64
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
const MAX_KID_LENGTH = 256

/**
 * A verifier for one issuer and audience. It discovers the JWKS, keeps it cached, polls the
 * revocation feed, and checks tokens strictly (RFC 9068 §4, RFC 8725). Call `close()` to stop
 * its timer.
 */
export function createVerifier(options: VerifierOptions) {
  const issuer = options.issuer
  assertIssuerUrl(issuer)
  const audience = typeof options.audience === 'string' ? options.audience : [...options.audience]
  if (audience.length === 0) throw new TypeError('audience must not be empty')
  const algorithms = options.algorithms ? [...options.algorithms] : [...DEFAULT_ALGORITHMS]
  assertAlgorithms(algorithms)
  const clockTolerance = options.clockToleranceSeconds ?? 5
  if (!(clockTolerance >= 0 && clockTolerance <= 60))
    throw new TypeError('clockToleranceSeconds must be between 0 and 60')
  const pollInterval = options.revocationPollIntervalMs ?? 5_000
  if (!(pollInterval >= 100)) throw new TypeError('revocationPollIntervalMs must be at least 100')
  const clock = options.clock ?? Date.now
  const fetchTimeoutMs = options.fetchTimeoutMs ?? 5_000
  // Two missed polls at the least, so one slow answer never fails requests.
  const maxStaleness = options.maxRevocationStalenessMs ?? Math.max(600_000, 2 * pollInterval)
  if (!(maxStaleness > 0)) throw new TypeError('maxRevocationStalenessMs must be positive')
  const report =
    options.onError ??
    ((error: unknown) => console.warn(`@latchkey/verifier: ${error instanceof Error ? error.message : String(error)}`))
  // A throwing handler must never become an unhandled rejection in a background poll.
  const onError = (error: unknown) => {
    try {
      report(error)
    } catch {
      // nothing more to do: the failure was already handed over
    }
  }

  let jwksUri: Promise<string> | null = options.jwksUri === undefined ? null : Promise.resolve(options.jwksUri)
  if (options.jwksUri !== undefined) assertFetchableUrl(options.jwksUri, issuer, 'jwksUri')
  const resolveJwksUri = (): Promise<string> => {
    jwksUri ??= discoverIssuer(issuer, fetchTimeoutMs).then(
      (metadata) => metadata.jwks_uri,
      (error: unknown) => {
        jwksUri = null
        throw error
      },
    )
    return jwksUri
  }

  const keySet = createKeySet({
    jwksUri: resolveJwksUri,
    clock,
    algorithms,
    cooldownMs: options.keyRefetchCooldownMs ?? 30_000,
    defaultMaxAgeMs: 300_000,
    minMaxAgeMs: 10_000,
    maxMaxAgeMs: 86_400_000,
    timeoutMs: fetchTimeoutMs,
    onError,
  })

  const revocationsUri =
    options.revocationsUri === undefined ? `${issuer.replace(/\/$/, '')}/oauth/revocations` : options.revocationsUri
  if (revocationsUri !== false) assertFetchableUrl(revocationsUri, issuer, 'revocationsUri')
  const revocations =
    revocationsUri === false
      ? null
      : createRevocationList({ url: revocationsUri, clock, timeoutMs: fetchTimeoutMs, onError })
  let firstPoll: Promise<void> | null = null
  let timer: NodeJS.Timeout | null = null
  if (revocations) {
    firstPoll = revocations.refresh().catch(() => undefined)
    timer = setInterval(revocations.refreshIfIdle, pollInterval)
    timer.unref()
  }

  const baseOptions: JWTVerifyOptions = {
    issuer,
    audience,
    typ: 'at+jwt',
    algorithms,
    clockTolerance,
    requiredClaims: REQUIRED_CLAIMS,
  }
  const usesSystemClock = options.clock === undefined
  const iatWindowSeconds = options.dpop?.iatWindowSeconds ?? 60
  if (!(iatWindowSeconds > 0 && iatWindowSeconds <= 300)) throw new TypeError('dpop.iatWindowSeconds must be 1 to 300')
  const dpopOptions = {
    replayStore: options.dpop?.replayStore ?? createMemoryDpopReplayStore({ clock }),
    clock,
    iatWindowSeconds,
  }

  async function getKey(header: JWTHeaderParameters): Promise<CryptoKey> {
    // RFC 8725 §3.10: keys come from the issuer's published set only, never from the token.
    for (const member of FORBIDDEN_HEADERS) {
      if (member in header) throw new VerifierError('header_not_allowed', `tokens with a ${member} header are refused`)
    }
    if (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > MAX_KID_LENGTH)
      throw new VerifierError('token_malformed', 'the token header has no usable kid')
    const key = await keySet.keyFor(header.kid)
    if (header.alg !== key.alg)
      throw new VerifierError('alg_not_allowed', `the key ${header.kid} is for ${key.alg}, not ${String(header.alg)}`)
    return key.key
  }

  /**
   * Checks a bare token and returns its claims, or throws a VerifierError. A DPoP-bound token
   * (cnf) is refused with token_dpop_mismatch: without its proof it is no better than a stolen one
   * (RFC 9449 §7.1); use authenticate() with the request's DPoP context for those.
   */
  async function verify(token: string): Promise<AccessTokenClaims> {
    const claims = await verifyToken(token)
    if (claims.cnf !== undefined)
      throw new VerifierError('token_dpop_mismatch', 'a DPoP-bound token needs its proof: use authenticate()')
    return claims
  }

  /** The token's signature, claims and revocation, whatever it is bound to. */
  async function verifyToken(token: string): Promise<AccessTokenClaims> {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) {
      throw new VerifierError('token_malformed', 'the token is not a compact JWS')
    }
    let payload: JWTPayload
    try {
      const verifyOptions = usesSystemClock ? baseOptions : { ...baseOptions, currentDate: new Date(clock()) }
      ;({ payload } = await jwtVerify(token, getKey, verifyOptions))
    } catch (error) {
      throw toVerifierError(error)
    }
    const claims = payload as AccessTokenClaims
    if (revocations) {
      if (revocations.lastSuccessAt() === null) {
        // Fail closed until the feed has been read once. Retries are the timer's: requests never
        // trigger polls, so a flood while Latchkey is down costs it nothing.
        await firstPoll
        if (revocations.lastSuccessAt() === null)
          throw new VerifierError('revocations_unavailable', 'the revocation feed has not been loaded yet')
      }
      // Fail closed once the list is too old to trust: a revocation could have been missed.
      if (clock() - revocations.lastSuccessAt()! > maxStaleness)
        throw new VerifierError('revocations_unavailable', 'the revocation feed has not been read for too long')
      if (revocations.isRevoked(claims)) throw new VerifierError('token_revoked', 'the token has been revoked')
    }
    return claims
  }

  /**
   * Reads `Authorization: Bearer <token>` (RFC 6750 §2.1) or, given the request's DPoP context,
   * `Authorization: DPoP <token>` with its proof (RFC 9449 §7.1), and verifies the token. A
   * DPoP-bound token (cnf.jkt) presented as Bearer is refused, and so is an unbound one as DPoP.
   */
  async function authenticate(
    authorization: string | string[] | undefined,
    dpop?: DpopRequest,
  ): Promise<AccessTokenClaims> {
    const isDpop = dpop !== undefined && typeof authorization === 'string' && /^dpop /i.test(authorization.slice(0, 5))
    const token = isDpop ? schemeTokenOf(authorization, 'dpop') : bearerTokenOf(authorization)
    let claims: AccessTokenClaims
    try {
      claims = await verifyToken(token)
    } catch (error) {
      // RFC 9449 §7.1: a request that used the DPoP scheme is challenged with DPoP.
      if (isDpop && error instanceof VerifierError)
        throw new VerifierError(error.code, error.message, { claim: error.claim, cause: error, scheme: 'dpop' })
      throw error
    }
    const jkt = typeof claims.cnf?.jkt === 'string' ? claims.cnf.jkt : undefined
    if (!isDpop) {
      if (claims.cnf !== undefined)
        throw new VerifierError('token_dpop_mismatch', 'a DPoP-bound token was presented as a bearer token')
      return claims
    }
    if (jkt === undefined) throw new VerifierError('token_dpop_mismatch', 'the token is not DPoP-bound')
    await checkDpopProof(dpop, token, jkt, dpopOptions)
    return claims
  }

  return {
    verify,
    authenticate,
    /** Polls the revocation feed now (after any poll under way). Rejects if it cannot be read. */
    refreshRevocations: async (): Promise<void> => {
      if (revocations) await revocations.refresh()
    },
    /** Fetches the key set now. Rejects if it cannot be read; cached keys stay in use. */
    refreshKeys: (): Promise<void> => keySet.refresh(),
    /** Discovery, the key set and the first revocation poll; rejects if any fails. */
    async ready(): Promise<void> {
      await keySet.refresh()
      if (revocations && revocations.lastSuccessAt() === null) await revocations.refresh()
    },
    status: () => ({
      kids: keySet.kids(),
      revocationsLoadedAt: revocations?.lastSuccessAt() ?? null,
      revocations: revocations?.size() ?? null,
    }),
    close(): void {
      if (timer) clearInterval(timer)
      timer = null
    },
  }
}

export type Verifier = ReturnType<typeof createVerifier>

/**
 * RFC 6750 §2.1: `Bearer`, one or more spaces, the token, optional trailing spaces; any other
 * scheme or shape counts as no token. Scanned once, left to right: a backtracking regex here cost
 * quadratic time on `Bearer` + many spaces + `a b`.
 */
export function bearerTokenOf(authorization: string | string[] | undefined): string {
  return schemeTokenOf(authorization, 'bearer')
}

/** The token after `scheme` (lower case), scanned as bearerTokenOf describes. */
function schemeTokenOf(authorization: string | string[] | undefined, scheme: 'bearer' | 'dpop'): string {
  const SCHEME = scheme
  if (authorization === undefined || Array.isArray(authorization))
    throw new VerifierError('token_missing', 'no bearer token')
  if (authorization.length > MAX_AUTHORIZATION_LENGTH)
    throw new VerifierError('token_malformed', 'the authorization header is too large')
  const end = authorization.length
  if (authorization.slice(0, SCHEME.length).toLowerCase() !== SCHEME || authorization[SCHEME.length] !== ' ')
    throw new VerifierError('token_missing', 'no bearer token')
  let start = SCHEME.length
  while (start < end && authorization[start] === ' ') start++
  let stop = start
  while (stop < end && !isWhitespace(authorization.charCodeAt(stop))) stop++
  for (let i = stop; i < end; i++) {
    if (authorization[i] !== ' ') throw new VerifierError('token_missing', 'no bearer token')
  }
  if (stop === start) throw new VerifierError('token_malformed', 'the bearer token is empty')
  return authorization.slice(start, stop)
}

/** What JavaScript's `\s` matches: one code unit at a time, so nothing can backtrack. */
function isWhitespace(code: number): boolean {
  return (
    (code >= 0x09 && code <= 0x0d) ||
    code === 0x20 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  )
}

/** jose's errors, mapped to stable codes; anything unexpected fails closed as malformed. */
function toVerifierError(error: unknown): VerifierError {
  if (error instanceof VerifierError) return error
  if (error instanceof joseErrors.JWTExpired)
    return new VerifierError('token_expired', 'the token has expired', { cause: error })
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf')
      return new VerifierError('token_not_yet_valid', 'the token is not valid yet', { cause: error })
    return new VerifierError('claim_invalid', `the ${error.claim} claim is invalid`, {
      claim: error.claim,
      cause: error,
    })
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed)
    return new VerifierError('alg_not_allowed', 'the token algorithm is not allowed', { cause: error })
  if (error instanceof joseErrors.JWSSignatureVerificationFailed)
    return new VerifierError('signature_invalid', 'the token signature is invalid', { cause: error })
  // RFC 7515 §4.1.11: a critical extension we do not understand must be refused.
  if (
    (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JOSENotSupported) &&
    /"crit"|Extension Header Parameter/.test(error.message)
  ) {
    return new VerifierError('header_not_allowed', 'the token has a critical header that is not understood', {
      cause: error,
    })
  }
  return new VerifierError('token_malformed', 'the token could not be parsed', { cause: error })
}
