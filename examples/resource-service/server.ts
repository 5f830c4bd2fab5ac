import { createServer } from 'node:http'
import { createRemoteJWKSet, jwtVerify } from 'jose'

const issuer = process.env.LATCHKEY_ISSUER ?? 'http://localhost:3000'
const audience = process.env.AUDIENCE ?? 'https://api.example.com'
// Fetched once, cached, and refetched when a token names a kid it has not seen (key rotation).
const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`))

const server = createServer(async (req, res) => {
  const token = /^Bearer ([\w.-]+)$/.exec(req.headers.authorization ?? '')?.[1]
  try {
    if (!token) throw new Error('missing bearer token')
    const { payload } = await jwtVerify(token, jwks, {
      issuer, // exact match
      audience, // this service must be in aud
      typ: 'at+jwt', // RFC 9068 access tokens only: never an ID token
      algorithms: ['ES256'], // the allow-list; never "none", never HMAC
    })
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ subject: payload.sub, scope: payload.scope }))
  } catch {
    res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' })
    res.end()
  }
})

server.listen(Number(process.env.PORT ?? 4000), '127.0.0.1', () => console.log('resource service ready'))
