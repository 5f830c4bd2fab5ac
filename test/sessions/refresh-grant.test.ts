import t from 'tap'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { registerUser } from '../helpers/users.js'
import { startSession } from '../../server/sessions/start-session.js'
import { findUserByEmail } from '../../server/users/user.store.js'

const form = 'application/x-www-form-urlencoded'

for (const dialect of testDialects()) {
  t.test(`grant_type=refresh_token on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const app = await registerClient(testApp, {
      name: 'web app',
      grantTypes: ['refresh_token'],
      scopes: ['notes:read', 'notes:write'],
    })
    const other = await registerClient(testApp, { name: 'other app', grantTypes: ['refresh_token'] })
    await registerUser(testApp, 'knuth@example.com')
    const user = (await findUserByEmail(testApp.deps.db, 'knuth@example.com'))!
    // The family an authorization-code exchange would create, made through the same store.
    const grant = () =>
      startSession(testApp.deps, user, {
        clientId: app.id,
        scopes: ['notes:read', 'notes:write'],
        audience: 'https://api.example.com',
        amr: ['pwd'],
        ip: null,
        userAgent: null,
      })
    const exchange = (refreshToken: string, basic: string, extra = '') =>
      testApp.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': form, authorization: basic },
        payload: `grant_type=refresh_token&refresh_token=${refreshToken}${extra}`,
      })

    t.test('rotates and returns a new refresh token with the access token', async (t) => {
      const { refreshToken } = await grant()
      const res = await exchange(refreshToken, app.basic)
      t.equal(res.statusCode, 200)
      t.same(Object.keys(res.json()).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
      t.not(res.json().refresh_token, refreshToken)
      t.equal(res.json().scope, 'notes:read notes:write')
      t.equal(res.headers['cache-control'], 'no-store')
    })

    t.test('a narrower scope is allowed, a wider one is invalid_scope', async (t) => {
      const { refreshToken } = await grant()
      const wider = await exchange(refreshToken, app.basic, '&scope=notes:read%20admin')
      t.equal(wider.statusCode, 400)
      t.same(wider.json(), { error: 'invalid_scope', error_description: 'scope exceeds the original grant: admin' })
      const narrower = await exchange(refreshToken, app.basic, '&scope=notes:read')
      t.equal(narrower.statusCode, 200)
      t.equal(narrower.json().scope, 'notes:read')
    })

    t.test('another client cannot use the family', async (t) => {
      const { refreshToken } = await grant()
      const res = await exchange(refreshToken, other.basic)
      t.equal(res.statusCode, 400)
      t.same(res.json(), { error: 'invalid_grant', error_description: 'refresh token was issued to another client' })
      t.equal((await exchange(refreshToken, app.basic)).statusCode, 200, 'and the attempt did not spend it')
    })

    t.test('reuse outside the grace window revokes the family, successor included', async (t) => {
      const { refreshToken } = await grant()
      const successor = (await exchange(refreshToken, app.basic)).json().refresh_token
      testApp.clock.advance(testApp.config.refreshReuseGraceMs)
      const reuse = await exchange(refreshToken, app.basic)
      t.same(reuse.json(), {
        error: 'invalid_grant',
        error_description: 'refresh token was already used; the session has been revoked',
      })
      t.same((await exchange(successor, app.basic)).json(), {
        error: 'invalid_grant',
        error_description: 'refresh token has been revoked',
      })
    })

    t.test('missing or unknown refresh tokens are invalid', async (t) => {
      const missing = await testApp.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': form, authorization: app.basic },
        payload: 'grant_type=refresh_token',
      })
      t.same(missing.json(), { error: 'invalid_request', error_description: 'refresh_token is required' })
      t.same((await exchange('nope', app.basic)).json(), {
        error: 'invalid_grant',
        error_description: 'refresh token is invalid',
      })
    })
  })
}
