import type { Config } from '../config.js'
import { ASSERTION_ALGORITHMS } from '../clients/client-public-keys.js'
import { dpopAlgorithms } from '../tokens/dpop-proof.js'

/**
 * RFC 8414 authorization server metadata. It advertises only what exists: each capability adds
 * its members here when it lands, so clients never discover an endpoint that answers 404.
 */
export function buildMetadata(
  config: Pick<Config, 'issuer' | 'signingAlg'>,
  grantTypes: string[],
  // Every algorithm of a published key: during an algorithm change the old key still signs (or its
  // tokens still verify) while the new one waits, and clients must accept both.
  signingAlgs: string[] = [config.signingAlg],
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
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    // RFC 7523 §2.2 client assertions: asymmetric algorithms only (clients/client-public-keys.ts).
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
    revocation_endpoint: url('/oauth/revoke'),
    revocation_endpoint_auth_methods_supported: [
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
      'none',
    ],
    revocation_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
    introspection_endpoint: url('/oauth/introspect'),
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    introspection_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
    userinfo_endpoint: url('/oauth/userinfo'),
    // RFC 8628 §4
    device_authorization_endpoint: url('/oauth/device_authorization'),
    // RFC 9068 §2.1 access tokens are signed with this algorithm.
    access_token_signing_alg_values_supported: signingAlgs,
    // OpenID Connect Discovery §3
    scopes_supported: ['openid', 'email', 'profile'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: signingAlgs,
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
    // RFC 9449 §5.1
    dpop_signing_alg_values_supported: [...dpopAlgorithms],
    // OpenID Connect RP-Initiated Logout 1.0 §2.1 and Back-Channel Logout 1.0 §2.1
    end_session_endpoint: url('/oauth/logout'),
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
  }
}
