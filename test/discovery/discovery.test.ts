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
      grant_types_supported: ['client_credentials'],
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      access_token_signing_alg_values_supported: ['ES256'],
    })
  }
})

t.test('every advertised endpoint answers', async (t) => {
  const testApp = await buildTestApp(t)
  const metadata = (await testApp.app.inject('/.well-known/oauth-authorization-server')).json()
  const path = (url: string) => new URL(url).pathname
  t.equal((await testApp.app.inject(path(metadata.jwks_uri))).statusCode, 200)
  t.equal((await testApp.app.inject({ method: 'POST', url: path(metadata.token_endpoint) })).statusCode, 400, 'token endpoint exists (and wants a body)')
})
