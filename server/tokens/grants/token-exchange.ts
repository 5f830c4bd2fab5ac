import type { Client } from '../../clients/client.js'
import { TOKEN_EXCHANGE_GRANT } from '../../clients/client.js'
import { parseScope } from '../../clients/scope.js'
import type { Deps } from '../../deps.js'
import { InvalidRequest, InvalidScope, InvalidTarget, OAuthError, UnauthorizedClient } from '../../errors.js'
import { recordAuditEvent } from '../../audit/record-audit-event.js'
import { findAbsoluteUriProblem } from '../../url-rules.js'
import { findSessionEnd } from '../../sessions/session.store.js'
import type { AccessTokenClaims } from '../../sessions/verify-access-token.js'
import { issueAccessToken } from '../access-token.js'
import type { TokenRequest, TokenResponse } from '../token.schema.js'
import { tokenTypeFor, type DpopBinding } from '../dpop-token-request.js'

/** RFC 8693 §3: the only token type taken and issued. */
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

/** RFC 8693 §4.1: the actor chain, the newest actor outermost. */
interface Actor {
  sub: string
  act?: Actor
}

/**
 * RFC 8693 token exchange, as docs/token-exchange.md describes the policy: a resource service (a
 * confidential client with this grant) that received a user's access token trades it for one to
 * call another service on the user's behalf. The subject token must be one of ours, still good
 * (not revoked, its session and user alive) and issued for an audience the service is registered
 * for; the new token's audience must be another of the service's registered audiences; its scopes
 * can only narrow the subject token's. The new token keeps the user as `sub` and the session as
 * `sid` (so signing out ends it too), names the service in `act` (nesting an earlier `act`), ends
 * no later than the subject token and its session, and comes without a refresh token. Every exchange and every refusal is audited.
 * With a DPoP proof the new token is bound to the proof's key (RFC 9449 §5 holds for every grant);
 * a DPoP-bound subject token is taken only with a proof of its own key (see assertSubjectKeyHeld).
 */
export async function tokenExchangeGrant(
  deps: Deps,
  client: Client,
  params: TokenRequest,
  dpop?: DpopBinding,
): Promise<TokenResponse> {
  try {
    return await exchange(deps, client, params, dpop)
  } catch (error) {
    if (error instanceof OAuthError)
      await recordAuditEvent(deps, {
        event: 'token_exchange.failed',
        clientId: client.id,
        details: { error: error.error, reason: error.description },
      })
    throw error
  }
}

async function exchange(
  deps: Deps,
  client: Client,
  params: TokenRequest,
  dpop: DpopBinding | undefined,
): Promise<TokenResponse> {
  if (client.type !== 'confidential' || !client.grantTypes.includes(TOKEN_EXCHANGE_GRANT))
    throw new UnauthorizedClient('this client may not use the token-exchange grant')
  if (params.subject_token === undefined) throw new InvalidRequest('subject_token is required')
  if (params.subject_token_type !== ACCESS_TOKEN_TYPE)
    throw new InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`)
  if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE)
    throw new InvalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`)
  // The authenticated client is the actor; a separate actor token would name someone else.
  if (params.actor_token !== undefined || params.actor_token_type !== undefined)
    throw new InvalidRequest('actor_token is not supported: the authenticated client is the actor')

  const audience = targetOf(client, params)
  // RFC 8693 §2.2.2: an unacceptable subject token is invalid_request.
  const subject = await deps.verifier.verifyAccessToken(params.subject_token)
  if (subject === null) throw new InvalidRequest('subject_token is invalid, expired or revoked')
  if (subject.sid === undefined) throw new InvalidRequest('subject_token must be a user access token')
  assertSubjectKeyHeld(subject, dpop)
  // A token outliving its session (minted just before the session's end) must not carry the user
  // past it, and an expired session is as good as a revoked one.
  const sessionEnd = await findSessionEnd(deps.db, subject.sid)
  if (sessionEnd === null || sessionEnd <= deps.clock.now())
    throw new InvalidRequest('subject_token is invalid, expired or revoked')
  const subjectAudiences = Array.isArray(subject.aud) ? subject.aud : [subject.aud]
  if (!subjectAudiences.some((aud) => aud !== undefined && client.audiences.includes(aud)))
    throw new InvalidRequest('subject_token was not issued for a service this client is registered as')

  const subjectScopes = subject.scope === undefined || subject.scope === '' ? [] : subject.scope.split(' ')
  let scopes = subjectScopes
  if (params.scope !== undefined) {
    scopes = parseScope(params.scope)
    const wider = scopes.filter((s) => !subjectScopes.includes(s))
    if (wider.length > 0) throw new InvalidScope(`scope exceeds the subject token's: ${wider.join(' ')}`)
  }

  const act: Actor = { sub: client.id, ...(isActor(subject.act) ? { act: subject.act } : {}) }
  const issued = await issueAccessToken(deps, {
    subject: subject.sub,
    clientId: client.id,
    audience,
    scopes,
    // The new token ends with the subject token (and its session): exchanging its own output again
    // and again never carries a service past the user's grant.
    notAfter: Math.min(subject.exp * 1000, sessionEnd),
    dpopJkt: dpop?.jkt,
    extraClaims: {
      sid: subject.sid,
      ...copied(subject, ['auth_time', 'amr']),
      act,
    },
  })
  await recordAuditEvent(deps, {
    event: 'token.exchanged',
    userId: subject.sub,
    clientId: client.id,
    sessionId: subject.sid,
    details: {
      audience,
      scope: scopes.join(' '),
      subject_client_id: subject.client_id,
      subject_jti: subject.jti,
      jti: issued.jti,
    },
  })
  return {
    access_token: issued.token,
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: tokenTypeFor(dpop),
    expires_in: issued.expiresIn,
    ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}),
  }
}

/**
 * The target service (RFC 8693 §2.1 `resource` or `audience`, one of them, naming one service),
 * which must be one of the client's registered audiences: a client with none may target nothing.
 */
function targetOf(client: Client, params: TokenRequest): string {
  if (Array.isArray(params.resource)) throw new InvalidTarget('request one resource per token')
  const { resource, audience } = params
  if (resource !== undefined && audience !== undefined && resource !== audience)
    throw new InvalidTarget('resource and audience name different services: give one')
  const target = resource ?? audience
  if (target === undefined) throw new InvalidRequest('resource or audience is required: name the service to call')
  if (findAbsoluteUriProblem(target) !== null) throw new InvalidTarget('the target must be an absolute URI')
  if (!client.audiences.includes(target)) throw new InvalidTarget('this client may not obtain tokens for that audience')
  return target
}

/**
 * RFC 9449 defines no exchange of a DPoP-bound token, and a bound token must never come out of the
 * exchange as a Bearer token (or bound to another key): whoever stole one, together with the
 * credentials of a service it was issued for, would launder it. So a subject token with cnf.jkt is
 * taken only when the exchange request itself proves possession of that same key; the new token is
 * then bound to it again. RFC 8693 §2.2.2: an unacceptable subject token is invalid_request.
 */
function assertSubjectKeyHeld(subject: AccessTokenClaims, dpop: DpopBinding | undefined): void {
  // Our tokens carry no other confirmation method (cnf is only ever { jkt }).
  const jkt = subject.cnf?.jkt
  if (jkt === undefined) return
  if (dpop?.jkt == null)
    throw new InvalidRequest('subject_token is DPoP-bound: the request must carry a DPoP proof of its key')
  if (dpop.jkt !== jkt) throw new InvalidRequest('subject_token is bound to another DPoP key than the proof')
}

function isActor(value: unknown): value is Actor {
  return typeof value === 'object' && value !== null && typeof (value as { sub?: unknown }).sub === 'string'
}

function copied(claims: AccessTokenClaims, names: string[]): Record<string, unknown> {
  return Object.fromEntries(names.filter((n) => claims[n] !== undefined).map((n) => [n, claims[n]]))
}
