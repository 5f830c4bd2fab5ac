// Calibration (d): the authorization-code round trip and nothing else. GET /oauth/authorize finds
// the sign-in by its cookie and stores a code (its SHA-256, with the PKCE challenge) and redirects;
// POST /oauth/token claims the code in one transaction that also inserts the session and its
// refresh token, checks PKCE S256, then signs an access token and an ID token. Fastify, jose and
// better-sqlite3 in WAL mode, the same requests as Latchkey's hosted flow. See bench/README.md.
import { randomBytes, randomUUID } from 'node:crypto'
import path from 'node:path'
import Database from 'better-sqlite3'
import Fastify from 'fastify'
import { issuer, parseForms, port, sha256, signAccessToken, signIdToken } from './shared.js'

const SIGNIN_COOKIE = '__Host-latchkey_signin'
const db = new Database(path.join(process.env.DATA_DIR!, 'calibration.db'))
db.pragma('journal_mode = WAL')
db.pragma('synchronous = NORMAL')
db.exec(`
  create table if not exists signins (hash blob primary key, user_id text not null);
  create table if not exists codes (hash blob primary key, client_id text not null, redirect_uri text not null,
    challenge text not null, nonce text not null, user_id text not null, used integer not null default 0,
    expires_at integer not null);
  create table if not exists sessions (id text primary key, user_id text not null, client_id text not null,
    created_at integer not null);
  create table if not exists refresh_tokens (hash blob primary key, session_id text not null,
    used integer not null default 0, expires_at integer not null);`)
const findSignin = db.prepare('select user_id from signins where hash = ?')
const insertCode = db.prepare(
  'insert into codes (hash, client_id, redirect_uri, challenge, nonce, user_id, expires_at) values (?, ?, ?, ?, ?, ?, ?)',
)
const claimCode = db.prepare(
  `update codes set used = 1 where hash = ? and used = 0 and expires_at > ? and client_id = ? and redirect_uri = ?
   returning challenge, nonce, user_id`,
)
const insertSession = db.prepare('insert into sessions (id, user_id, client_id, created_at) values (?, ?, ?, ?)')
const insertRefresh = db.prepare('insert into refresh_tokens (hash, session_id, expires_at) values (?, ?, ?)')
const exchange = db.transaction(
  (code: string, clientId: string, redirectUri: string, verifier: string, refreshToken: string, now: number) => {
    const row = claimCode.get(sha256(code), now, clientId, redirectUri) as
      { challenge: string; nonce: string; user_id: string } | undefined
    if (!row || sha256(verifier).toString('base64url') !== row.challenge) return null
    const sessionId = randomUUID()
    insertSession.run(sessionId, row.user_id, clientId, now)
    insertRefresh.run(sha256(refreshToken), sessionId, now + 86_400_000)
    return row
  },
)

// The bench's one signed-in user: its sign-in cookie comes from the environment.
db.prepare('insert or ignore into signins (hash, user_id) values (?, ?)').run(sha256(process.env.SIGNIN!), randomUUID())

const app = Fastify({ logger: false })
parseForms(app)
app.get('/oauth/authorize', async (request, reply) => {
  const query = request.query as Record<string, string>
  const cookie = new RegExp(`(?:^|; )${SIGNIN_COOKIE}=([^;]+)`).exec(request.headers.cookie ?? '')?.[1]
  const signin = cookie === undefined ? undefined : (findSignin.get(sha256(cookie)) as { user_id: string } | undefined)
  if (!signin || query.code_challenge_method !== 'S256') return reply.code(400).send({ error: 'invalid_request' })
  const code = randomBytes(32).toString('base64url')
  insertCode.run(
    sha256(code),
    query.client_id,
    query.redirect_uri,
    query.code_challenge,
    query.nonce ?? '',
    signin.user_id,
    Date.now() + 60_000,
  )
  const location = new URL(query.redirect_uri!)
  location.search = new URLSearchParams({ code, state: query.state ?? '', iss: issuer }).toString()
  return reply.redirect(location.href, 302)
})
app.post('/oauth/token', async (request, reply) => {
  const form = request.body as URLSearchParams
  reply.header('cache-control', 'no-store')
  const clientId = form.get('client_id') ?? ''
  const refreshToken = randomBytes(32).toString('base64url')
  const row = exchange(
    form.get('code') ?? '',
    clientId,
    form.get('redirect_uri') ?? '',
    form.get('code_verifier') ?? '',
    refreshToken,
    Date.now(),
  )
  if (!row || form.get('grant_type') !== 'authorization_code') return reply.code(400).send({ error: 'invalid_grant' })
  const [accessToken, idToken] = await Promise.all([
    signAccessToken({ sub: row.user_id, client_id: clientId, aud: issuer, scope: 'openid email' }),
    signIdToken({ sub: row.user_id, aud: clientId, nonce: row.nonce }),
  ])
  return {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: 600,
    refresh_token: refreshToken,
    id_token: idToken,
    scope: 'openid email',
  }
})
await app.listen({ host: '127.0.0.1', port })
console.log('ready')
