// Calibration (c): refresh-token rotation and nothing else. Fastify, jose and better-sqlite3 in WAL
// mode: per request one transaction that claims the presented token (by its SHA-256) and inserts
// its successor, then an ES256 access token is signed. The token travels in the same cookie as
// Latchkey's first-party refresh. POST /login makes a session without a password (no argon2).
// See bench/README.md.
import { randomBytes, randomUUID } from 'node:crypto'
import path from 'node:path'
import Database from 'better-sqlite3'
import Fastify from 'fastify'
import { port, sha256, signAccessToken } from './shared.js'

const COOKIE = '__Host-latchkey_session'
const db = new Database(path.join(process.env.DATA_DIR!, 'calibration.db'))
db.pragma('journal_mode = WAL')
db.pragma('synchronous = NORMAL')
db.exec(`create table if not exists refresh_tokens (
  hash blob primary key, session_id text not null, user_id text not null, used integer not null default 0,
  expires_at integer not null)`)
const insert = db.prepare('insert into refresh_tokens (hash, session_id, user_id, expires_at) values (?, ?, ?, ?)')
const claim = db.prepare(
  'update refresh_tokens set used = 1 where hash = ? and used = 0 and expires_at > ? returning session_id, user_id',
)
const rotate = db.transaction((presented: string, successor: string, now: number) => {
  const row = claim.get(sha256(presented), now) as { session_id: string; user_id: string } | undefined
  if (row) insert.run(sha256(successor), row.session_id, row.user_id, now + 86_400_000)
  return row
})

const cookieOf = (header: string | undefined) => {
  const match = header === undefined ? null : new RegExp(`(?:^|; )${COOKIE}=([^;]+)`).exec(header)
  return match ? match[1]! : null
}
const setCookie = (token: string) => `${COOKIE}=${token}; Path=/auth; HttpOnly; Secure; SameSite=Strict`

const app = Fastify({ logger: false })
app.post('/login', async (_request, reply) => {
  const token = randomBytes(32).toString('base64url')
  insert.run(sha256(token), randomUUID(), randomUUID(), Date.now() + 86_400_000)
  return reply.header('set-cookie', setCookie(token)).send({ ok: true })
})
app.post('/auth/refresh', async (request, reply) => {
  reply.header('cache-control', 'no-store')
  const presented = cookieOf(request.headers.cookie)
  if (presented === null) return reply.code(401).send({ error: 'invalid_grant' })
  const successor = randomBytes(32).toString('base64url')
  const session = rotate(presented, successor, Date.now())
  if (!session) return reply.code(401).send({ error: 'invalid_grant' })
  const accessToken = await signAccessToken({
    sub: session.user_id,
    client_id: 'first-party',
    aud: 'https://api.example.com',
    scope: 'openid',
  })
  return reply
    .header('set-cookie', setCookie(successor))
    .send({ access_token: accessToken, token_type: 'Bearer', expires_in: 600 })
})
await app.listen({ host: '127.0.0.1', port })
console.log('ready')
