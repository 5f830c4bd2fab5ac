import t from 'tap'
import { buildTestApp, registerClient, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { login, registerUser } from '../helpers/users.js'
import { adminAccess } from '../helpers/admin.js'
import { findClientById } from '../../server/clients/client.store.js'

const form = 'application/x-www-form-urlencoded'

async function introspect(testApp: TestApp, basic: string, token: string) {
  const res = await testApp.app.inject({
    method: 'POST',
    url: '/oauth/introspect',
    headers: { 'content-type': form, authorization: basic },
    payload: new URLSearchParams({ token }).toString(),
  })
  return { status: res.statusCode, body: res.json() as Record<string, unknown> }
}

for (const dialect of testDialects()) {
  t.test(`introspection is for registered resource servers on ${dialect} (L3)`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const userAudience = testApp.config.defaultAudience
    // Ordinary confidential clients: one holds tokens, one is a curious third party.
    const holder = await registerClient(testApp, { name: 'holder', audiences: ['https://api.example.com'] })
    const curious = await registerClient(testApp, { name: 'curious', audiences: [userAudience] })
    const resourceServer = await registerClient(testApp, {
      name: 'resource server',
      audiences: [userAudience],
      introspection: true,
    })
    const otherResource = await registerClient(testApp, {
      name: 'other resource',
      audiences: ['https://other.example.com'],
      introspection: true,
    })
    await registerUser(testApp, 'ada@example.com')
    const ada = await login(testApp, 'ada@example.com')
    const cc = await testApp.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': form, authorization: holder.basic },
      payload: 'grant_type=client_credentials',
    })
    const ccToken = cc.json().access_token as string

    t.test('a client not registered for introspection learns nothing, not even of its own audience', async (t) => {
      t.same(await introspect(testApp, curious.basic, ada.accessToken), { status: 200, body: { active: false } })
      t.same(await introspect(testApp, holder.basic, ccToken), { status: 200, body: { active: false } })
    })

    t.test('a registered client learns about tokens for its audiences only', async (t) => {
      const own = await introspect(testApp, resourceServer.basic, ada.accessToken)
      t.equal(own.body.active, true)
      t.equal(own.body.aud, userAudience)
      t.same(await introspect(testApp, otherResource.basic, ada.accessToken), { status: 200, body: { active: false } })
      t.same(await introspect(testApp, resourceServer.basic, ccToken), { status: 200, body: { active: false } })
    })

    t.test('registration for introspection is shown, changed and checked through the admin API', async (t) => {
      t.equal((await findClientById(testApp.deps.db, resourceServer.id))!.introspection, true)
      t.equal((await findClientById(testApp.deps.db, curious.id))!.introspection, false)
      const { headers: bearer } = await adminAccess(testApp)
      const created = await testApp.app.inject({
        method: 'POST',
        url: '/admin/clients',
        headers: bearer,
        payload: {
          name: 'api',
          grant_types: ['client_credentials'],
          scope: '',
          audiences: [userAudience],
          introspection: true,
        },
      })
      t.equal(created.statusCode, 201)
      t.equal(created.json().introspection, true)
      const id = created.json().client_id as string
      const basic = `Basic ${Buffer.from(`${id}:${created.json().client_secret as string}`).toString('base64')}`
      t.equal((await introspect(testApp, basic, ada.accessToken)).body.active, true)
      const patched = await testApp.app.inject({
        method: 'PATCH',
        url: `/admin/clients/${id}`,
        headers: bearer,
        payload: { introspection: false },
      })
      t.equal(patched.statusCode, 200)
      t.equal(patched.json().introspection, false)
      t.equal(
        (await testApp.app.inject({ url: `/admin/clients/${curious.id}`, headers: bearer })).json().introspection,
        false,
      )
      const publicOne = await testApp.app.inject({
        method: 'POST',
        url: '/admin/clients',
        headers: bearer,
        payload: {
          name: 'spa',
          type: 'public',
          grant_types: ['authorization_code'],
          scope: '',
          redirect_uris: ['http://127.0.0.1/cb'],
          audiences: [userAudience],
          introspection: true,
        },
      })
      t.equal(publicOne.statusCode, 400)
      t.same(publicOne.json(), {
        error: 'invalid_client_metadata',
        error_description: 'a public client cannot introspect tokens',
      })
    })
  })
}
