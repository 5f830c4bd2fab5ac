import t from 'tap'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { registerUser } from '../helpers/users.js'
import {
  CookieJar,
  authorizeUrl,
  browse,
  exchangeCode,
  pkcePair,
  redirectParams,
  signInOnPage,
} from '../helpers/authorize.js'
import { ipGroupOf, revokeClientRateLimit } from '../../server/http/rate-limit.js'

const form = 'application/x-www-form-urlencoded'
const REDIRECT = 'https://app.example.com/callback'

t.test('IPv6 sources are grouped by /64', async (t) => {
  t.equal(ipGroupOf('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
  t.equal(ipGroupOf('2001:0db8:0001:0002:ffff:1:2:3'), '2001:db8:1:2::/64')
  t.equal(ipGroupOf('2001:db8::7'), '2001:db8:0:0::/64')
  t.equal(ipGroupOf('::1'), '0:0:0:0::/64')
  t.equal(ipGroupOf('198.51.100.66'), '198.51.100.66')
})

for (const dialect of testDialects()) {
  t.test(`junk revocations naming a public client do not use up its users' budget on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    const spa = await registerClient(testApp, {
      name: 'SPA',
      type: 'public',
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: ['openid'],
      audiences: ['https://api.example.com'],
      redirectUris: [REDIRECT],
      firstParty: true,
    })
    const revoke = (token: string, remoteAddress: string) =>
      testApp.app.inject({
        method: 'POST',
        url: '/oauth/revoke',
        headers: { 'content-type': form },
        payload: `client_id=${spa.id}&token=${token}`,
        remoteAddress,
      })
    const junk = []
    for (let i = 0; i <= revokeClientRateLimit.max; i++)
      junk.push((await revoke(`junk${i}`, '198.51.100.66')).statusCode)
    t.equal(junk.at(-1), 429, 'the junk source ran out of its own budget')

    await registerUser(testApp, 'ada@example.com')
    const jar = new CookieJar()
    const { verifier, challenge } = pkcePair()
    const page = await browse(
      testApp,
      jar,
      authorizeUrl({ clientId: spa.id, redirectUri: REDIRECT, challenge, scope: 'openid' }),
    )
    const back = await signInOnPage(testApp, jar, page.body, 'ada@example.com')
    const code = redirectParams(back).get('code')!
    const tokens = (
      await exchangeCode(testApp, { code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: spa.id })
    ).json() as { refresh_token: string }

    const res = await revoke(tokens.refresh_token, '203.0.113.7')
    t.equal(res.statusCode, 200, 'regression: the real user got 429 and the token stayed live')
    const after = await testApp.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': form },
      payload: `grant_type=refresh_token&client_id=${spa.id}&refresh_token=${tokens.refresh_token}`,
    })
    t.equal(after.statusCode, 400)
    t.equal(after.json().error, 'invalid_grant', 'the refresh token was revoked')
  })
}
