import t from 'tap'
import type { InjectOptions } from 'fastify'
import { buildTestApp, registerClient, type TestApp, type TestClient } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { PASSWORD, browserHeaders, nextClientIp } from '../helpers/users.js'

const form = 'application/x-www-form-urlencoded'

interface Case {
  name: string
  request: (ctx: { testApp: TestApp; client: TestClient }) => InjectOptions
  status: number
  /** The exact JSON body, or for a hosted page, what its HTML must say. */
  body: Record<string, unknown> | RegExp
}

const refused = (description: string) => ({ error: 'invalid_request', error_description: description })
const basicOf = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

// Hostile input as a new user (or a careless client) would send it: each must get a 4xx in the
// documented shape, or the exact answer its RFC requires, never a 500 and never a stored control character.
const cases: Case[] = [
  {
    name: 'an email with NUL at login (PostgreSQL refuses NUL in text: it was a 500)',
    request: () => ({
      method: 'POST',
      url: '/auth/login',
      headers: browserHeaders(),
      payload: { email: 'a@b.c\u0000admin', password: PASSWORD },
    }),
    status: 400,
    body: refused('email must not contain control characters'),
  },
  {
    name: 'an email with NUL at registration (SQLite stored it with 202)',
    request: () => ({
      method: 'POST',
      url: '/auth/register',
      headers: browserHeaders(),
      payload: { email: 'a@b.c\u0000admin', password: PASSWORD },
    }),
    status: 400,
    body: refused('email must not contain control characters'),
  },
  {
    name: 'a name with a line break at registration',
    request: () => ({
      method: 'POST',
      url: '/auth/register',
      headers: browserHeaders(),
      payload: { email: 'new@example.com', password: PASSWORD, name: 'Ada\r\nBcc: x' },
    }),
    status: 400,
    body: refused('name must not contain control characters'),
  },
  {
    name: 'an email with an escape character at password reset',
    request: () => ({
      method: 'POST',
      url: '/auth/password-reset',
      headers: browserHeaders(),
      payload: { email: 'a@b.c\u001b[2J' },
    }),
    status: 400,
    body: refused('email must not contain control characters'),
  },
  {
    name: 'a form parameter with NUL at the token endpoint',
    request: ({ client }) => ({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': form, authorization: client.basic },
      payload: 'grant_type=client_credentials&scope=notes%3Aread%00',
    }),
    status: 400,
    body: refused('scope must not contain control characters'),
  },
  {
    name: 'a client_id with NUL in the form',
    request: () => ({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': form },
      payload: 'grant_type=client_credentials&client_id=abc%00def&client_secret=x',
    }),
    status: 400,
    body: refused('client_id must not contain control characters'),
  },
  {
    name: 'a client id with NUL in Basic authentication',
    request: () => ({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': form, authorization: basicOf('abc\u0000def', 'secret') },
      payload: 'grant_type=client_credentials',
    }),
    status: 401,
    body: { error: 'invalid_client', error_description: 'malformed Basic credentials' },
  },
  {
    name: 'a query parameter with NUL at the authorization endpoint',
    request: () => ({ method: 'GET', url: '/oauth/authorize?client_id=abc%00def&response_type=code' }),
    status: 400,
    body: /client_id must not contain control characters/i,
  },
  {
    name: 'an over-long refresh token is invalid_grant, not a schema error (RFC 6749 §5.2)',
    request: ({ client }) => ({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': form, authorization: client.basic },
      payload: `grant_type=refresh_token&refresh_token=${'a'.repeat(5000)}`,
    }),
    status: 400,
    body: { error: 'invalid_grant', error_description: 'refresh token is invalid' },
  },
  {
    name: 'introspecting a 10 KB token is {"active": false} (RFC 7662 §2.2)',
    request: ({ client }) => ({
      method: 'POST',
      url: '/oauth/introspect',
      headers: { 'content-type': form, authorization: client.basic },
      payload: `token=${'a'.repeat(10_240)}`,
    }),
    status: 200,
    body: { active: false },
  },
  {
    name: 'revoking a 10 KB token is a 200 with nothing revoked (RFC 7009 §2.2)',
    request: ({ client }) => ({
      method: 'POST',
      url: '/oauth/revoke',
      headers: { 'content-type': form, authorization: client.basic },
      payload: `token=${'a'.repeat(10_240)}`,
    }),
    status: 200,
    body: {},
  },
]

for (const dialect of testDialects()) {
  t.test(`hostile input on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const client = await registerClient(testApp, {
      grantTypes: ['client_credentials', 'refresh_token'],
      introspection: true,
    })
    for (const c of cases) {
      t.test(c.name, async (t) => {
        const res = await testApp.app.inject({ remoteAddress: nextClientIp(), ...c.request({ testApp, client }) })
        t.equal(res.statusCode, c.status)
        if (c.body instanceof RegExp) t.match(res.body, c.body)
        else t.same(res.json(), c.body)
        if (c.status >= 400) t.equal(res.headers['cache-control'], 'no-store')
      })
    }
    t.test('nothing with a control character was stored', async (t) => {
      const users = await testApp.deps.db.selectFrom('users').select('email').execute()
      t.same(users, [])
    })
  })
}
