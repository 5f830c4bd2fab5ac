// Calibration (b): the client_credentials grant and nothing else. Fastify and jose ES256, one
// client in memory, its secret compared in constant time (as a SHA-256 digest, like Latchkey's
// stored secret hash); the JWKS as a prebuilt body. See bench/README.md.
import { timingSafeEqual } from 'node:crypto'
import Fastify from 'fastify'
import { basicCredentials, jwks, parseForms, port, sha256, signAccessToken } from './shared.js'

const client = {
  id: process.env.CLIENT_ID!,
  secretDigest: sha256(process.env.CLIENT_SECRET!),
  audience: process.env.AUDIENCE!,
  scope: process.env.SCOPE!,
}
const jwksBody = JSON.stringify(jwks)

const app = Fastify({ logger: false })
parseForms(app)
app.post('/oauth/token', async (request, reply) => {
  const form = request.body as URLSearchParams
  const credentials = basicCredentials(request.headers.authorization)
  const authenticated =
    credentials !== null && credentials[0] === client.id && timingSafeEqual(sha256(credentials[1]), client.secretDigest)
  reply.header('cache-control', 'no-store')
  if (!authenticated) return reply.code(401).send({ error: 'invalid_client' })
  if (form.get('grant_type') !== 'client_credentials') return reply.code(400).send({ error: 'unsupported_grant_type' })
  const token = await signAccessToken({
    sub: client.id,
    client_id: client.id,
    aud: client.audience,
    scope: client.scope,
  })
  return { access_token: token, token_type: 'Bearer', expires_in: 600, scope: client.scope }
})
app.get('/jwks.json', (_request, reply) => reply.type('application/json').send(jwksBody))
await app.listen({ host: '127.0.0.1', port })
console.log('ready')
