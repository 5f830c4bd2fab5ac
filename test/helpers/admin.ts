import type { TestApp } from './build-test-app.js'
import { createClient } from '../../server/clients/create-client.js'

/** Access to the admin API: an admin client made as the CLI makes one, and a token it got by client_credentials. */
export async function adminAccess(testApp: TestApp): Promise<{ clientId: string; headers: { authorization: string } }> {
  const { client, secret } = await createClient(
    testApp.deps,
    {
      name: 'ops',
      type: 'confidential',
      grantTypes: ['client_credentials'],
      scopes: ['latchkey:admin'],
      audiences: [testApp.config.issuer],
      redirectUris: [],
    },
    { mayGrantAdminScope: true },
  )
  const res = await testApp.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.id}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    payload: 'grant_type=client_credentials',
  })
  if (res.statusCode !== 200) throw new Error(`admin token: ${res.statusCode} ${res.body}`)
  return {
    clientId: client.id,
    headers: { authorization: `Bearer ${res.json<{ access_token: string }>().access_token}` },
  }
}
