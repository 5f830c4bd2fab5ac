// node-oidc-provider v9 set up as close to Latchkey's client_credentials service as it allows, so
// bench/run.ts can compare the two. Runs as its own process:
//
//   PORT=4000 CLIENT_ID=bench CLIENT_SECRET=secret RESOURCE=https://api.example.com \
//     node --import tsx bench/oidc-provider-server.ts
//
// Prints `ready` on stdout once listening on 127.0.0.1:PORT. Everything else goes to stderr.

import http from 'node:http'
import { randomBytes } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose'
import Provider, { errors } from 'oidc-provider'

function required(name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') {
    process.stderr.write(`oidc-provider-server: ${name} is required\n`)
    process.exit(2)
  }
  return value
}

const port = Number(required('PORT'))
const clientId = required('CLIENT_ID')
const clientSecret = required('CLIENT_SECRET')
const resource = required('RESOURCE')
const host = '127.0.0.1'
const issuer = `http://${host}:${port}`
const scope = 'notes:read notes:write'
// Latchkey's default access token lifetime is 10 minutes; use the same.
const accessTokenTtl = 600

// One ES256 signing key, generated per start like a fresh Latchkey data dir.
const { privateKey } = await generateKeyPair('ES256', { extractable: true })
const privateJwk = await exportJWK(privateKey)
const signingKey = { ...privateJwk, kid: await calculateJwkThumbprint(privateJwk), alg: 'ES256', use: 'sig' }

const resourceServer = {
  scope,
  audience: resource,
  accessTokenTTL: accessTokenTtl,
  accessTokenFormat: 'jwt',
  jwt: { sign: { alg: 'ES256' } },
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope,
    },
  ],
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access', 'notes:read', 'notes:write'],
  ttl: { ClientCredentials: accessTokenTtl },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Without a resource parameter every token is for RESOURCE, as Latchkey's client audience.
      defaultResource: async () => resource,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx: unknown, indicator: string) => {
        if (indicator !== resource) throw new errors.InvalidTarget()
        return resourceServer
      },
    },
  },
})

const server = http.createServer(provider.callback())
server.listen(port, host, () => {
  process.stdout.write('ready\n')
})

function stop(): void {
  server.close(() => process.exit(0))
  server.closeAllConnections()
  setTimeout(() => process.exit(0), 2000).unref()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
