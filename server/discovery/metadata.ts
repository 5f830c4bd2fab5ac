import type { Config } from '../config.js'

/**
 * RFC 8414 authorization server metadata. It advertises only what exists: each capability adds
 * its members here when it lands, so clients never discover an endpoint that answers 404.
 */
export function buildMetadata(config: Pick<Config, 'issuer' | 'signingAlg'>, grantTypes: string[]): Record<string, unknown> {
  const url = (path: string) => `${config.issuer}${path}`
  return {
    issuer: config.issuer,
    token_endpoint: url('/oauth/token'),
    jwks_uri: url('/.well-known/jwks.json'),
    grant_types_supported: grantTypes,
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint: url('/oauth/revoke'),
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    introspection_endpoint: url('/oauth/introspect'),
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    userinfo_endpoint: url('/oauth/userinfo'),
    // RFC 9068 §2.1 access tokens are signed with this algorithm.
    access_token_signing_alg_values_supported: [config.signingAlg],
  }
}
