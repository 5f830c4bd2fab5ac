// What the calibration servers (b)–(d) share: one ES256 key, a form body parser, a signer of
// RFC 9068 access tokens and a reader of Basic credentials. No product logic; each file that
// imports this is a whole server. They run transpiled in memory, without a TypeScript loader.
import { createHash, randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'

export const port = Number(process.env.PORT)
export const issuer = `http://127.0.0.1:${port}`
const kid = 'calibration'
const { privateKey, publicKey } = await generateKeyPair('ES256')
export const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] }

export const sha256 = (text: string) => createHash('sha256').update(text).digest()

/** application/x-www-form-urlencoded bodies as URLSearchParams. */
export function parseForms(app: FastifyInstance): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, new URLSearchParams(body as string))
  })
}

export function signAccessToken(claims: { sub: string; client_id: string; aud: string; scope: string }) {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ client_id: claims.client_id, scope: claims.scope })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
    .setIssuer(issuer)
    .setSubject(claims.sub)
    .setAudience(claims.aud)
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .setJti(randomUUID())
    .sign(privateKey)
}

export function signIdToken(claims: { sub: string; aud: string; nonce: string }) {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ nonce: claims.nonce, auth_time: now })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
    .setIssuer(issuer)
    .setSubject(claims.sub)
    .setAudience(claims.aud)
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(privateKey)
}

/** `Authorization: Basic …` as [id, secret], URL-decoded (RFC 6749 §2.3.1), or null. */
export function basicCredentials(header: string | undefined): [string, string] | null {
  if (!header?.startsWith('Basic ')) return null
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return null
  return [decodeURIComponent(decoded.slice(0, colon)), decodeURIComponent(decoded.slice(colon + 1))]
}
