import t from 'tap'
import * as oauth from 'oauth4webapi'
import { exportJWK, generateKeyPair } from 'jose'
import { buildTestApp } from '../helpers/build-test-app.js'
import { freePort } from '../helpers/free-port.js'
import { startJwksServer } from '../helpers/jwks-server.js'
import { testDialects } from '../helpers/test-database.js'
import { createClient } from '../../server/clients/create-client.js'

// private_key_jwt (RFC 7523 §2.2) with a client none of us wrote: oauth4webapi signs the client
// assertions, Latchkey verifies them at the token, introspection and revocation endpoints. One
// client registered its public keys inline (--jwks-file), the other publishes them at a jwks_uri
// served by a real HTTP server on loopback.

/** oauth4webapi stamps assertions with the real time: the app's clock follows it. */
const realTimeClock = () => {
  let offset = 0
  return {
    now: () => Date.now() + offset,
    advance(ms: number) {
      offset += ms
    },
    set(ms: number) {
      offset = ms - Date.now()
    },
  }
}

for (const dialect of testDialects()) {
  t.test(`oauth4webapi authenticates with private_key_jwt on ${dialect}`, async (t) => {
    const port = await freePort()
    const issuerText = `http://127.0.0.1:${port}`
    const testApp = await buildTestApp(t, { dialect, clock: realTimeClock(), env: { LATCHKEY_ISSUER: issuerText } })
    await testApp.app.listen({ port, host: '127.0.0.1' })
    const options = { [oauth.allowInsecureRequests]: true }

    const issuer = new URL(issuerText)
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, options))
    t.ok(as.token_endpoint_auth_methods_supported?.includes('private_key_jwt'), 'advertised for the token endpoint')
    t.ok(as.revocation_endpoint_auth_methods_supported?.includes('private_key_jwt'), '… revocation')
    t.ok(as.introspection_endpoint_auth_methods_supported?.includes('private_key_jwt'), '… introspection')
    t.same(as.token_endpoint_auth_signing_alg_values_supported, ['ES256', 'RS256', 'PS256', 'EdDSA', 'Ed25519'])

    const fileKeys = await generateKeyPair('ES256', { extractable: true })
    const uriKeys = await generateKeyPair('EdDSA', { extractable: true })
    const jwksServer = await startJwksServer(t, [{ ...(await exportJWK(uriKeys.publicKey)), kid: 'uri-1' }])
    const registration = {
      type: 'confidential' as const,
      grantTypes: ['client_credentials'],
      scopes: ['reports:read'],
      audiences: ['https://api.example.com'],
      redirectUris: [],
      // Registered for introspection of its audience's tokens (issue 11, L3).
      introspection: true,
    }
    const kinds = [
      {
        kind: 'an inline JWKS (--jwks-file)',
        privateKey: { key: fileKeys.privateKey, kid: 'file-1' },
        keys: { jwks: { keys: [{ ...(await exportJWK(fileKeys.publicKey)), kid: 'file-1' }] } },
      },
      { kind: 'a jwks_uri', privateKey: { key: uriKeys.privateKey, kid: 'uri-1' }, keys: { jwksUri: jwksServer.url } },
    ]

    for (const { kind, privateKey, keys } of kinds) {
      t.test(`a client with ${kind}: client_credentials, introspection, revocation`, async (t) => {
        const { client: registered, secret } = await createClient(testApp.deps, {
          name: kind,
          ...registration,
          ...keys,
        })
        t.equal(secret, null, 'a private_key_jwt client gets no secret')
        const client: oauth.Client = { client_id: registered.id }
        const clientAuth = oauth.PrivateKeyJwt(privateKey)

        const result = await oauth.processClientCredentialsResponse(
          as,
          client,
          await oauth.clientCredentialsGrantRequest(as, client, clientAuth, { scope: 'reports:read' }, options),
        )
        t.equal(result.token_type, 'bearer')
        t.equal(result.scope, 'reports:read')

        const introspected = await oauth.processIntrospectionResponse(
          as,
          client,
          await oauth.introspectionRequest(as, client, clientAuth, result.access_token, options),
        )
        t.equal(introspected.active, true, 'introspection authenticates the client by its assertion')
        t.equal(introspected.client_id, registered.id)

        await oauth.processRevocationResponse(
          await oauth.revocationRequest(as, client, clientAuth, result.access_token, options),
        )
        const afterRevoke = await oauth.processIntrospectionResponse(
          as,
          client,
          await oauth.introspectionRequest(as, client, clientAuth, result.access_token, options),
        )
        t.equal(afterRevoke.active, false, 'revocation authenticated the client and revoked the token')

        const withSecret = await oauth.clientCredentialsGrantRequest(
          as,
          client,
          oauth.ClientSecretBasic('not-a-secret'),
          {},
          options,
        )
        t.equal(withSecret.status, 401, 'a key client cannot fall back to a secret')
      })
    }
    t.test('the jwks_uri was fetched once for all of it', async (t) => {
      t.equal(jwksServer.fetches(), 1)
    })
  })
}
