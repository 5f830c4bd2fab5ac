import { generateSync } from 'otplib'
import type { TestApp } from './build-test-app.js'
import { PASSWORD, login, nextClientIp } from './users.js'

// TOTP codes in tests come from otplib, an implementation independent of the otpauth library the
// server uses, at the time of the test's injected clock.

/** The RFC 6238 code (SHA-1, 6 digits, 30 s) for `secret` at `atMs`. */
export function totpCode(secret: string, atMs: number): string {
  return generateSync({ secret, epoch: Math.floor(atMs / 1000) })
}

export interface Enrolled {
  secret: string
  recoveryCodes: string[]
  accessToken: string
}

/** Signs in, sets up TOTP and confirms it with a current code; the clock then moves past that step. */
export async function enrolTotp(testApp: TestApp, email: string, password = PASSWORD): Promise<Enrolled> {
  const { accessToken } = await login(testApp, email, password)
  const auth = { authorization: `Bearer ${accessToken}` }
  const setup = await testApp.app.inject({ method: 'POST', url: '/auth/mfa/totp/setup', headers: auth })
  if (setup.statusCode !== 200) throw new Error(`setup failed: ${setup.statusCode} ${setup.body}`)
  const { secret } = setup.json<{ secret: string }>()
  const confirm = await testApp.app.inject({
    method: 'POST',
    url: '/auth/mfa/totp/confirm',
    headers: auth,
    payload: { code: totpCode(secret, testApp.clock.now()) },
  })
  if (confirm.statusCode !== 200) throw new Error(`confirm failed: ${confirm.statusCode} ${confirm.body}`)
  // The confirming code's step is used; later sign-ins in a test take the next one.
  testApp.clock.advance(30_000)
  return { secret, recoveryCodes: confirm.json<{ recovery_codes: string[] }>().recovery_codes, accessToken }
}

/** The password step of a user with a second factor: the mfa_token it answers with. */
export async function passwordStep(testApp: TestApp, email: string, password = PASSWORD): Promise<string> {
  const res = await testApp.app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email, password },
    remoteAddress: nextClientIp(),
  })
  if (res.statusCode !== 401 || res.json<{ error: string }>().error !== 'mfa_required')
    throw new Error(`expected mfa_required: ${res.statusCode} ${res.body}`)
  return res.json<{ mfa_token: string }>().mfa_token
}

export function secondStep(testApp: TestApp, mfaToken: string, code: string) {
  return testApp.app.inject({
    method: 'POST',
    url: '/auth/login/mfa',
    payload: { mfa_token: mfaToken, code },
    remoteAddress: nextClientIp(),
  })
}
