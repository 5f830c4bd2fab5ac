import type { Config } from '../config.js'

/**
 * RFC 8414 authorization server metadata. It advertises only what exists: each capability adds
 * its members here when it lands, so clients never discover an endpoint that answers 404.
 */
export function buildMetadata(
  config: Pick<Config, 'issuer' | 'signingAlg'>,
  grantTypes: string[],
): Record<string, unknown> {
  const url = (path: string) => `${config.issuer}${path}`
  return {
    issuer: config.issuer,
    token_endpoint: url('/oauth/token'),
    jwks_uri: url('/.well-known/jwks.json'),
    authorization_endpoint: url('/oauth/authorize'),
    grant_types_supported: grantTypes,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    // RFC 9700 §2.1.1: PKCE for every client, S256 only.
    code_challenge_methods_supported: ['S256'],
    // RFC 9207
    authorization_response_iss_parameter_supported: true,
    prompt_values_supported: ['none', 'login', 'consent'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint: url('/oauth/revoke'),
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    introspection_endpoint: url('/oauth/introspect'),
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    userinfo_endpoint: url('/oauth/userinfo'),
    // RFC 9068 §2.1 access tokens are signed with this algorithm.
    access_token_signing_alg_values_supported: [config.signingAlg],
    // OpenID Connect Discovery §3
    scopes_supported: ['openid', 'email', 'profile'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [config.signingAlg],
    claims_supported: [
      'iss',
      'sub',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'nonce',
      'at_hash',
      'sid',
      'amr',
      'email',
      'email_verified',
      'name',
    ],
    // OpenID Connect RP-Initiated Logout 1.0 §2.1 and Back-Channel Logout 1.0 §2.1
    end_session_endpoint: url('/oauth/logout'),
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
  }
}
