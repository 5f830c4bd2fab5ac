import type { TestApp } from './build-test-app.js'

export const PASSWORD = 'correct horse battery staple 42'
export const ORIGIN = 'http://localhost:3000'

/** Headers a first-party browser app sends on cookie requests. */
export function browserHeaders(cookie?: string): Record<string, string> {
  return { origin: ORIGIN, 'x-requested-with': 'latchkey', ...(cookie ? { cookie } : {}) }
}

let clientNumber = 0

/** A distinct client address per call, so fixtures never run into the per-IP rate limits under test. */
export function nextClientIp(): string {
  clientNumber++
  return `10.${(clientNumber >> 16) & 255}.${(clientNumber >> 8) & 255}.${clientNumber & 255}`
}

export async function registerUser(testApp: TestApp, email: string, password = PASSWORD, name?: string): Promise<void> {
  const res = await testApp.app.inject({
    method: 'POST',
    url: '/auth/register',
    payload: { email, password, ...(name ? { name } : {}) },
    remoteAddress: nextClientIp(),
  })
  if (res.statusCode !== 202) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
}

export interface LoggedIn {
  accessToken: string
  /** `name=value` of the session cookie, ready for a Cookie header. */
  cookie: string
  refreshToken: string
}

export function sessionCookieOf(setCookie: string | string[] | undefined): string {
  const header = (Array.isArray(setCookie) ? setCookie : [setCookie ?? '']).find((c) =>
    c.startsWith('__Host-latchkey_session='),
  )
  if (!header) throw new Error('no session cookie set')
  return header.split(';')[0]!
}

export async function login(testApp: TestApp, email: string, password = PASSWORD): Promise<LoggedIn> {
  const res = await testApp.app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password },
    remoteAddress: nextClientIp(),
  })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  const cookie = sessionCookieOf(res.headers['set-cookie'])
  return { accessToken: res.json().access_token, cookie, refreshToken: cookie.split('=')[1]! }
}

export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>
}
