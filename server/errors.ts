// Errors are values the code throws; http/error-handler.ts is the only place that turns them
// into HTTP replies. Every reply body has the shape {"error", "error_description"}.

/** RFC 6749 §5.2 (and RFC 7009, 7662, 8707) errors. */
export class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly status: number,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description)
    this.name = 'OAuthError'
  }
}

export class InvalidRequest extends OAuthError {
  constructor(description: string) {
    super('invalid_request', 400, description)
  }
}

/** RFC 6749 §5.2: 401 with a WWW-Authenticate challenge for the scheme the client may use. */
export class InvalidClient extends OAuthError {
  constructor(description = 'client authentication failed') {
    super('invalid_client', 401, description, { 'www-authenticate': 'Basic realm="latchkey", charset="UTF-8"' })
  }
}

export class InvalidGrant extends OAuthError {
  constructor(description: string) {
    super('invalid_grant', 400, description)
  }
}

export class UnauthorizedClient extends OAuthError {
  constructor(description: string) {
    super('unauthorized_client', 400, description)
  }
}

export class UnsupportedGrantType extends OAuthError {
  constructor(description: string) {
    super('unsupported_grant_type', 400, description)
  }
}

export class InvalidScope extends OAuthError {
  constructor(description: string) {
    super('invalid_scope', 400, description)
  }
}

/** RFC 8707 §2: the requested resource is unknown, not allowed for this client, or malformed. */
export class InvalidTarget extends OAuthError {
  constructor(description: string) {
    super('invalid_target', 400, description)
  }
}

/** RFC 8628 §3.5: the user has not answered yet; poll again after the interval. */
export class AuthorizationPending extends OAuthError {
  constructor() {
    super('authorization_pending', 400, 'the user has not yet approved or denied this sign-in')
  }
}

/** RFC 8628 §3.5: polled before the interval passed; the interval grows by 5 seconds. */
export class SlowDown extends OAuthError {
  constructor() {
    super('slow_down', 400, 'polling too often: wait 5 seconds more between polls from now on')
  }
}

/** RFC 8628 §3.5: the user denied the request. */
export class AccessDenied extends OAuthError {
  constructor(description: string) {
    super('access_denied', 400, description)
  }
}

/** RFC 8628 §3.5: the device code expired; start a new device authorization. */
export class ExpiredToken extends OAuthError {
  constructor(description: string) {
    super('expired_token', 400, description)
  }
}

export class MethodNotAllowed extends OAuthError {
  constructor(allowed: string) {
    super('invalid_request', 405, `this endpoint only accepts ${allowed}`, { allow: allowed })
  }
}

/** First-party API and operational errors, with stable codes. */
export class ApiError extends Error {
  constructor(
    readonly error: string,
    readonly status: number,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description)
    this.name = 'ApiError'
  }
}

/** RFC 6750 §3: 401 with a Bearer challenge. */
export class InvalidToken extends ApiError {
  constructor(description = 'the access token is missing, invalid, expired or revoked') {
    super('invalid_token', 401, description, { 'www-authenticate': `Bearer realm="latchkey", error="invalid_token"` })
  }
}

/**
 * The password was right and a second step is due (API.md "Second factors"): no session yet, only
 * the mfa_token that POST /auth/login/mfa takes.
 */
export class MfaRequired extends ApiError {
  constructor(
    readonly mfaToken: string,
    /** `enrolment`: LATCHKEY_MFA=required and the user has no factor yet; the token sets one up. */
    kind: 'second_step' | 'enrolment' = 'second_step',
  ) {
    super(
      kind === 'enrolment' ? 'mfa_enrolment_required' : 'mfa_required',
      401,
      kind === 'enrolment'
        ? 'a second factor must be set up first: POST /auth/login/mfa/totp/setup and /confirm with the mfa_token'
        : 'a second factor is required: send a code from your authenticator app or a recovery code',
    )
  }
}

/** RFC 6750 §3.1: a valid token without the scope the request needs. */
export class InsufficientScope extends ApiError {
  constructor(scope: string) {
    super('insufficient_scope', 403, `this request needs an access token with the scope ${scope}`, {
      'www-authenticate': `Bearer realm="latchkey", error="insufficient_scope", scope="${scope}"`,
    })
  }
}

export class NotFound extends ApiError {
  constructor(description = 'no such resource') {
    super('not_found', 404, description)
  }
}

export class ServiceUnavailable extends ApiError {
  constructor(description: string, retryAfterSeconds?: number) {
    super(
      'temporarily_unavailable',
      503,
      description,
      retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
    )
  }
}
