import type { LightMyRequestResponse } from 'fastify'
import type { TestApp, TestClient } from './build-test-app.js'
import { CookieJar, browse, hiddenField, submit } from './authorize.js'
import { PASSWORD, nextClientIp } from './users.js'

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

/** Client authentication as the fields or header a request carries: public clients name themselves. */
function authOf(client: TestClient): { fields: Record<string, string>; headers: Record<string, string> } {
  return client.secret === ''
    ? { fields: { client_id: client.id }, headers: {} }
    : { fields: {}, headers: { authorization: client.basic } }
}

/** POST /oauth/device_authorization (RFC 8628 §3.1), from a fresh address unless one is given (it is rate-limited per IP). */
export async function requestDeviceAuthorization(
  testApp: TestApp,
  client: TestClient,
  fields: Record<string, string> = {},
  remoteAddress = nextClientIp(),
): Promise<LightMyRequestResponse> {
  const auth = authOf(client)
  return testApp.app.inject({
    method: 'POST',
    url: '/oauth/device_authorization',
    remoteAddress,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth.headers },
    payload: new URLSearchParams({ ...auth.fields, ...fields }).toString(),
  })
}

/** One poll of the token endpoint with a device code (RFC 8628 §3.4), with further headers (a DPoP proof). */
export async function pollDeviceToken(
  testApp: TestApp,
  client: TestClient,
  deviceCode: string,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  const auth = authOf(client)
  return testApp.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth.headers, ...headers },
    payload: new URLSearchParams({ grant_type: DEVICE_CODE_GRANT, device_code: deviceCode, ...auth.fields }).toString(),
  })
}

/**
 * What a person does in a browser: open verification_uri_complete, sign in on the hosted page,
 * confirm the code, and allow or deny. Returns the last page.
 */
export async function answerDeviceInBrowser(
  testApp: TestApp,
  verificationUriComplete: string,
  email: string,
  decision: 'allow' | 'deny',
  jar = new CookieJar(),
): Promise<LightMyRequestResponse> {
  const url = new URL(verificationUriComplete)
  let page = await browse(testApp, jar, `${url.pathname}${url.search}`)
  if (page.body.includes('name="password"')) {
    const signedIn = await submit(testApp, jar, '/signin', {
      csrf: hiddenField(page.body, 'csrf'),
      device_user_code: hiddenField(page.body, 'device_user_code'),
      email,
      password: PASSWORD,
    })
    if (signedIn.statusCode !== 303) throw new Error(`sign-in failed: ${signedIn.statusCode}`)
    page = await browse(testApp, jar, String(signedIn.headers.location))
  }
  const userCode = /name="user_code"[^>]* value="([^"]*)"/.exec(page.body)?.[1] ?? ''
  const consent = await submit(testApp, jar, '/device', { csrf: hiddenField(page.body, 'csrf'), user_code: userCode })
  if (consent.statusCode !== 200 || !consent.body.includes('/device/consent'))
    throw new Error(`code entry failed: ${consent.statusCode}`)
  return submit(testApp, jar, '/device/consent', {
    csrf: hiddenField(consent.body, 'csrf'),
    user_code: hiddenField(consent.body, 'user_code'),
    decision,
  })
}
