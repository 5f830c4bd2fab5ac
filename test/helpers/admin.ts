import type { TestApp, TestClient } from './build-test-app.js'
import { createClient } from '../../server/clients/create-client.js'

/** The client_secret_basic header value for a client id and secret. */
export const basicOf = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`

/** An admin client (client_credentials, scope latchkey:admin) made as the CLI makes one. */
export async function createAdminClient(testApp: TestApp, name = 'ops'): Promise<TestClient> {
  const { client, secret } = await createClient(
    testApp.deps,
    {
      name,
      type: 'confidential',
      grantTypes: ['client_credentials'],
      scopes: ['latchkey:admin'],
      audiences: [testApp.config.issuer],
      redirectUris: [],
    },
    { mayGrantAdminScope: true },
  )
  return { id: client.id, secret: secret!, basic: basicOf(client.id, secret!) }
}

/** An access token by client_credentials; throws with the status and body when refused. */
export async function clientCredentialsToken(testApp: TestApp, basic: string): Promise<string> {
  const res = await testApp.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'grant_type=client_credentials',
  })
  if (res.statusCode !== 200) throw new Error(`token: ${res.statusCode} ${res.body}`)
  return res.json<{ access_token: string }>().access_token
}

/** Access to the admin API: a new admin client and the bearer header of a token it got. */
export async function adminAccess(testApp: TestApp): Promise<{ clientId: string; headers: { authorization: string } }> {
  const admin = await createAdminClient(testApp)
  return {
    clientId: admin.id,
    headers: { authorization: `Bearer ${await clientCredentialsToken(testApp, admin.basic)}` },
  }
}

/** POST /oauth/introspect as `introspector`. */
export function introspect(testApp: TestApp, introspector: TestClient, token: string) {
  return testApp.app.inject({
    method: 'POST',
    url: '/oauth/introspect',
    headers: { authorization: introspector.basic, 'content-type': 'application/x-www-form-urlencoded' },
    payload: `token=${token}`,
  })
}
