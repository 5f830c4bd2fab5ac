import { createHash, randomBytes } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import type { TestApp } from './build-test-app.js'
import { PASSWORD, nextClientIp } from './users.js'

/** A PKCE pair (RFC 7636 §4.1, §4.2). */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

/** The cookies a browser would hold for Latchkey, fed from Set-Cookie and sent back as Cookie. */
export class CookieJar {
  readonly cookies = new Map<string, string>()
  take(res: LightMyRequestResponse): void {
    const header = res.headers['set-cookie']
    for (const line of Array.isArray(header) ? header : header ? [header] : []) {
      const [pair] = line.split(';')
      const at = pair!.indexOf('=')
      const name = pair!.slice(0, at)
      const value = pair!.slice(at + 1)
      if (value === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(line)) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }
}

/** The value of a hidden input on a page. */
export function hiddenField(page: string, name: string): string {
  const match = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)">`).exec(page)
  if (!match) throw new Error(`no hidden field ${name} on the page`)
  return match[1]!
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
}

export interface AuthorizeParams {
  clientId: string
  redirectUri: string
  challenge: string
  scope?: string
  state?: string
  nonce?: string
  extra?: Record<string, string>
}

export function authorizeUrl(p: AuthorizeParams): string {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: p.clientId,
    redirect_uri: p.redirectUri,
    code_challenge: p.challenge,
    code_challenge_method: 'S256',
    ...(p.scope ? { scope: p.scope } : {}),
    ...(p.state ? { state: p.state } : {}),
    ...(p.nonce ? { nonce: p.nonce } : {}),
    ...p.extra,
  })
  return `/oauth/authorize?${query}`
}

/** A browser's round: GET with the jar's cookies, cookies taken back. */
export async function browse(testApp: TestApp, jar: CookieJar, url: string): Promise<LightMyRequestResponse> {
  const res = await testApp.app.inject({ method: 'GET', url, headers: { cookie: jar.header() } })
  jar.take(res)
  return res
}

/** A browser submitting a hosted form. */
export async function submit(
  testApp: TestApp,
  jar: CookieJar,
  url: string,
  fields: Record<string, string>,
): Promise<LightMyRequestResponse> {
  const res = await testApp.app.inject({
    method: 'POST',
    url,
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(fields).toString(),
    remoteAddress: nextClientIp(),
  })
  jar.take(res)
  return res
}

/** Fills in the sign-in page an authorization request showed. */
export async function signInOnPage(
  testApp: TestApp,
  jar: CookieJar,
  page: string,
  email: string,
  password = PASSWORD,
): Promise<LightMyRequestResponse> {
  const fields: Record<string, string> = { csrf: hiddenField(page, 'csrf'), email, password }
  if (page.includes('name="authorize"')) fields.authorize = hiddenField(page, 'authorize')
  return submit(testApp, jar, '/signin', fields)
}

/** Answers the consent page. */
export async function answerConsent(
  testApp: TestApp,
  jar: CookieJar,
  page: string,
  decision: 'allow' | 'deny',
): Promise<LightMyRequestResponse> {
  return submit(testApp, jar, '/consent', {
    csrf: hiddenField(page, 'csrf'),
    authorize: hiddenField(page, 'authorize'),
    decision,
  })
}

/** The query parameters of a redirect's Location. */
export function redirectParams(res: LightMyRequestResponse): URLSearchParams {
  return new URL(String(res.headers.location)).searchParams
}

export async function exchangeCode(
  testApp: TestApp,
  fields: Record<string, string>,
  authorization?: string,
): Promise<LightMyRequestResponse> {
  return testApp.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}) },
    payload: new URLSearchParams({ grant_type: 'authorization_code', ...fields }).toString(),
  })
}
