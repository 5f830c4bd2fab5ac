import t from 'tap'
import * as oauth from 'oauth4webapi'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
import { freePort } from '../helpers/free-port.js'
import { hiddenField } from '../helpers/authorize.js'
import { testDialects } from '../helpers/test-database.js'
import { PASSWORD, registerUser } from '../helpers/users.js'

// oauth4webapi (panva's, written by none of us) drives the device authorization grant (RFC 8628)
// and a token exchange (RFC 8693, as a generic grant) against a listening Latchkey. The person's
// part, on the hosted /device pages, is played over HTTP with fetch and a cookie map.

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

function cookieJar() {
  const cookies = new Map<string, string>()
  return {
    take(res: Response) {
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';')
        const at = pair!.indexOf('=')
        if (/max-age=0/i.test(line) || pair!.slice(at + 1) === '') cookies.delete(pair!.slice(0, at))
        else cookies.set(pair!.slice(0, at), pair!.slice(at + 1))
      }
    },
    header: () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
  }
}

async function errorCodeOf(promise: Promise<unknown>): Promise<string | null> {
  return promise.then(
    () => null,
    (error: unknown) => (error instanceof oauth.ResponseBodyError ? error.error : String(error)),
  )
}

for (const dialect of testDialects()) {
  t.test(`oauth4webapi completes device sign-in and token exchange against Latchkey on ${dialect}`, async (t) => {
    const port = await freePort()
    const issuerText = `http://127.0.0.1:${port}`
    const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_ISSUER: issuerText } })
    await testApp.app.listen({ port, host: '127.0.0.1' })
    await registerUser(testApp, 'ada@example.com', PASSWORD, 'Ada Lovelace')
    const options = { [oauth.allowInsecureRequests]: true }
    const issuer = new URL(issuerText)
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...options }),
    )
    t.equal(as.device_authorization_endpoint, `${issuerText}/oauth/device_authorization`)

    const tv = await registerClient(testApp, {
      name: 'Living-room TV',
      type: 'public',
      grantTypes: [DEVICE_CODE_GRANT, 'refresh_token'],
      scopes: ['openid', 'email', 'notes:read', 'notes:write'],
      audiences: ['https://notes.example'],
    })
    const client: oauth.Client = { client_id: tv.id }

    /** The person: open verification_uri_complete, sign in, confirm the code, answer. */
    async function answerInBrowser(verificationUriComplete: string, decision: 'allow' | 'deny'): Promise<string> {
      const jar = cookieJar()
      const form = (fields: Record<string, string>) => ({
        method: 'POST',
        redirect: 'manual' as const,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
        body: new URLSearchParams(fields).toString(),
      })
      const get = async (url: string) => {
        const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } })
        jar.take(res)
        return res
      }
      const signinPage = await (await get(verificationUriComplete)).text()
      const signedIn = await fetch(
        `${issuerText}/signin`,
        form({
          csrf: hiddenField(signinPage, 'csrf'),
          device_user_code: hiddenField(signinPage, 'device_user_code'),
          email: 'ada@example.com',
          password: PASSWORD,
        }),
      )
      jar.take(signedIn)
      t.equal(signedIn.status, 303, 'signed in, back to /device')
      const entry = await (await get(new URL(signedIn.headers.get('location')!, issuerText).href)).text()
      const userCode = /name="user_code"[^>]* value="([^"]*)"/.exec(entry)![1]!
      const consent = await fetch(
        `${issuerText}/device`,
        form({ csrf: hiddenField(entry, 'csrf'), user_code: userCode }),
      )
      jar.take(consent)
      const consentPage = await consent.text()
      t.match(consentPage, 'Allow Living-room TV on your device?')
      const answered = await fetch(
        `${issuerText}/device/consent`,
        form({ csrf: hiddenField(consentPage, 'csrf'), user_code: userCode, decision }),
      )
      return answered.text()
    }

    const startDevice = async (scope: string) =>
      oauth.processDeviceAuthorizationResponse(
        as,
        client,
        await oauth.deviceAuthorizationRequest(
          as,
          client,
          oauth.None(),
          { scope, resource: 'https://notes.example' },
          options,
        ),
      )
    const poll = async (deviceCode: string) =>
      oauth.processDeviceCodeResponse(
        as,
        client,
        await oauth.deviceCodeGrantRequest(as, client, oauth.None(), deviceCode, options),
      )

    let userAccessToken = ''
    t.test('the device flow: pending, slow_down, approval over the hosted pages, tokens, single use', async (t) => {
      const device = await startDevice('openid email notes:read notes:write')
      t.equal(device.interval, 5)
      t.equal(await errorCodeOf(poll(device.device_code)), 'authorization_pending')
      t.equal(await errorCodeOf(poll(device.device_code)), 'slow_down', 'polled again at once')
      t.match(await answerInBrowser(device.verification_uri_complete!, 'allow'), 'Device connected')
      testApp.clock.advance(10_000)
      const result = await poll(device.device_code)
      t.ok(result.refresh_token)
      const claims = oauth.getValidatedIdTokenClaims(result)!
      t.equal(claims.email, 'ada@example.com', 'a valid ID token')
      t.equal(claims.aud, tv.id)
      const userinfo = await oauth.processUserInfoResponse(
        as,
        client,
        claims.sub,
        await oauth.userInfoRequest(as, client, result.access_token, options),
      )
      t.equal(userinfo.email, 'ada@example.com')
      userAccessToken = result.access_token
      t.equal(await errorCodeOf(poll(device.device_code)), 'invalid_grant', 'the device code works once')
    })

    t.test('the device flow: access_denied and expired_token', async (t) => {
      const denied = await startDevice('notes:read')
      t.match(await answerInBrowser(denied.verification_uri_complete!, 'deny'), 'Sign-in denied')
      t.equal(await errorCodeOf(poll(denied.device_code)), 'access_denied')
      const late = await startDevice('notes:read')
      testApp.clock.advance(600_000)
      t.equal(await errorCodeOf(poll(late.device_code)), 'expired_token')
      testApp.clock.advance(-610_000)
    })

    t.test('a token exchange as a generic grant (genericTokenEndpointRequest)', async (t) => {
      const service = await registerClient(testApp, {
        name: 'Notes service',
        grantTypes: [TOKEN_EXCHANGE],
        scopes: [],
        audiences: ['https://notes.example', 'https://calendar.example'],
      })
      const serviceClient: oauth.Client = { client_id: service.id }
      const exchange = (parameters: Record<string, string>) =>
        oauth.genericTokenEndpointRequest(
          as,
          serviceClient,
          oauth.ClientSecretBasic(service.secret),
          TOKEN_EXCHANGE,
          { subject_token: userAccessToken, subject_token_type: ACCESS_TOKEN_TYPE, ...parameters },
          options,
        )
      const result = await oauth.processGenericTokenEndpointResponse(
        as,
        serviceClient,
        await exchange({ audience: 'https://calendar.example', scope: 'notes:read' }),
      )
      t.equal(result.issued_token_type, ACCESS_TOKEN_TYPE)
      t.equal(result.token_type, 'bearer')
      t.equal(result.scope, 'notes:read')
      t.notOk(result.refresh_token)
      const claims = JSON.parse(Buffer.from(result.access_token.split('.')[1]!, 'base64url').toString())
      t.same(claims.act, { sub: service.id })
      t.equal(claims.aud, 'https://calendar.example')

      const wider = oauth.processGenericTokenEndpointResponse(
        as,
        serviceClient,
        await exchange({ audience: 'https://calendar.example', scope: 'openid notes:admin' }),
      )
      t.equal(await errorCodeOf(wider), 'invalid_scope')
      const foreign = oauth.processGenericTokenEndpointResponse(
        as,
        serviceClient,
        await exchange({ audience: 'https://mail.example' }),
      )
      t.equal(await errorCodeOf(foreign), 'invalid_target')
    })
  })
}
