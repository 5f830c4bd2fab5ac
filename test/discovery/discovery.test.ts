import t from 'tap'
import { buildTestApp } from '../helpers/build-test-app.js'

t.test('metadata advertises only what exists, with the configured issuer', async (t) => {
  const testApp = await buildTestApp(t, { env: { LATCHKEY_ISSUER: 'http://127.0.0.1:4000/tenant' } })
  for (const url of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
    const res = await testApp.app.inject(url)
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'public, max-age=300')
    t.same(res.json(), {
      issuer: 'http://127.0.0.1:4000/tenant',
      token_endpoint: 'http://127.0.0.1:4000/tenant/oauth/token',
      jwks_uri: 'http://127.0.0.1:4000/tenant/.well-known/jwks.json',
      authorization_endpoint: 'http://127.0.0.1:4000/tenant/oauth/authorize',
      grant_types_supported: [
        'client_credentials',
        'refresh_token',
        'authorization_code',
        'urn:ietf:params:oauth:grant-type:device_code',
        'urn:ietf:params:oauth:grant-type:token-exchange',
      ],
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
      prompt_values_supported: ['none', 'login', 'consent'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
      token_endpoint_auth_signing_alg_values_supported: ['ES256', 'RS256', 'PS256', 'EdDSA', 'Ed25519'],
      revocation_endpoint: 'http://127.0.0.1:4000/tenant/oauth/revoke',
      revocation_endpoint_auth_methods_supported: [
        'client_secret_basic',
        'client_secret_post',
        'private_key_jwt',
        'none',
      ],
      revocation_endpoint_auth_signing_alg_values_supported: ['ES256', 'RS256', 'PS256', 'EdDSA', 'Ed25519'],
      introspection_endpoint: 'http://127.0.0.1:4000/tenant/oauth/introspect',
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      introspection_endpoint_auth_signing_alg_values_supported: ['ES256', 'RS256', 'PS256', 'EdDSA', 'Ed25519'],
      userinfo_endpoint: 'http://127.0.0.1:4000/tenant/oauth/userinfo',
      device_authorization_endpoint: 'http://127.0.0.1:4000/tenant/oauth/device_authorization',
      access_token_signing_alg_values_supported: ['ES256'],
      scopes_supported: ['openid', 'email', 'profile'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
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
      dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'RS256', 'PS256'],
      end_session_endpoint: 'http://127.0.0.1:4000/tenant/oauth/logout',
      backchannel_logout_supported: true,
      backchannel_logout_session_supported: true,
      request_parameter_supported: false,
      request_uri_parameter_supported: false,
    })
  }
})

t.test('every advertised endpoint answers', async (t) => {
  const testApp = await buildTestApp(t)
  const metadata = (await testApp.app.inject('/.well-known/oauth-authorization-server')).json()
  const path = (url: string) => new URL(url).pathname
  t.equal((await testApp.app.inject(path(metadata.jwks_uri))).statusCode, 200)
  for (const endpoint of [
    metadata.token_endpoint,
    metadata.revocation_endpoint,
    metadata.introspection_endpoint,
    metadata.device_authorization_endpoint,
  ]) {
    t.equal(
      (await testApp.app.inject({ method: 'POST', url: path(endpoint) })).statusCode,
      400,
      `${endpoint} exists (and wants a body)`,
    )
  }
  t.equal(
    (await testApp.app.inject({ url: path(metadata.userinfo_endpoint) })).statusCode,
    401,
    'userinfo exists (and wants a token)',
  )
  t.equal(
    (await testApp.app.inject({ url: path(metadata.authorization_endpoint) })).statusCode,
    400,
    'authorize exists (and wants a client)',
  )
  t.equal(
    (await testApp.app.inject({ url: path(metadata.end_session_endpoint) })).statusCode,
    200,
    'end_session_endpoint exists (and asks for confirmation without a hint)',
  )
})
