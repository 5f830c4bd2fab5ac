import { createClient } from '../../server/clients/create-client.js'
import { registerClient, type TestApp } from '../helpers/build-test-app.js'
import { PASSWORD, claimsOf, login, registerUser } from '../helpers/users.js'
import type { Ref } from './hostile-requests.js'

export type Fixtures = Record<Ref, string>

let generation = 0

/**
 * Real credentials for every slot, so hostile input reaches past the authentication checks: a user
 * with a session, an admin client's token, a confidential client with its secret, and a victim user
 * and client for the admin routes to act on. Made again whenever the fuzzer has spoiled them
 * (rotated the keys, disabled the user, deleted the admin client).
 */
export async function makeFixtures(testApp: TestApp): Promise<Fixtures> {
  generation++
  const email = `fuzz${generation}@example.com`
  await registerUser(testApp, email)
  await registerUser(testApp, `victim${generation}@example.com`)
  const user = await login(testApp, email)
  const admin = await createClient(
    testApp.deps,
    {
      name: `fuzz admin ${generation}`,
      type: 'confidential',
      grantTypes: ['client_credentials'],
      scopes: ['latchkey:admin'],
      audiences: [testApp.config.issuer],
      redirectUris: [],
    },
    { mayGrantAdminScope: true },
  )
  const client = await registerClient(testApp, { audiences: [testApp.config.issuer, 'https://api.example.com'] })
  const redirectUri = 'https://app.example.com/callback'
  const codeClient = await registerClient(testApp, {
    grantTypes: ['authorization_code', 'refresh_token'],
    redirectUris: [redirectUri],
    scopes: ['openid', 'profile', 'email', 'notes:read'],
  })
  const victimClient = await registerClient(testApp)
  const adminAccess = await clientCredentials(testApp, admin.client.id, admin.secret!)
  const clientAccess = await clientCredentials(testApp, client.id, client.secret)
  const users = await testApp.app.inject({
    url: `/admin/users?email=victim${generation}%40example.com`,
    headers: { authorization: `Bearer ${adminAccess}` },
  })
  const victim = (users.json() as { items?: Array<{ id: string }> }).items?.[0]
  const claims = claimsOf(user.accessToken)
  return {
    userAccess: user.accessToken,
    adminAccess,
    clientAccess,
    refresh: user.refreshToken,
    sessionId: String(claims.sid),
    userId: String(claims.sub),
    email,
    password: PASSWORD,
    clientId: client.id,
    clientSecret: client.secret,
    victimUserId: victim?.id ?? 'no-victim',
    victimClientId: victimClient.id,
    codeClientId: codeClient.id,
    redirectUri,
  }
}

/** Whether the fixtures still work: the user's access token and the admin token both answer. */
export async function fixturesHold(testApp: TestApp, fixtures: Fixtures): Promise<boolean> {
  const me = await testApp.app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${fixtures.userAccess}` } })
  const keys = await testApp.app.inject({
    url: '/admin/keys',
    headers: { authorization: `Bearer ${fixtures.adminAccess}` },
  })
  return me.statusCode === 200 && keys.statusCode === 200
}

async function clientCredentials(testApp: TestApp, id: string, secret: string): Promise<string> {
  const res = await testApp.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    payload: 'grant_type=client_credentials',
  })
  if (res.statusCode !== 200) throw new Error(`client_credentials failed: ${res.statusCode} ${res.body}`)
  return res.json().access_token as string
}
