import t from 'tap'
import { createFirstPartyClient } from '../../client/src/first-party.js'
import { LatchkeyError } from '../../client/src/errors.js'
import { buildTestApp } from '../helpers/build-test-app.js'
import { enrolTotp, totpCode } from '../helpers/totp.js'
import { PASSWORD, registerUser } from '../helpers/users.js'

// The browser library's first-party mode against a real, listening Latchkey: a user with TOTP
// gets LatchkeyError mfa_required carrying the mfa_token, and loginWithCode finishes the sign-in.

t.test('login answers mfa_required with the mfa_token, and loginWithCode signs in with amr pwd otp mfa', async (t) => {
  const testApp = await buildTestApp(t)
  await registerUser(testApp, 'client@example.com')
  const { secret } = await enrolTotp(testApp, 'client@example.com')
  const origin = await testApp.app.listen({ port: 0, host: '127.0.0.1' })
  const client = createFirstPartyClient({ baseUrl: origin, channelName: `mfa-test-${process.pid}` })
  t.teardown(() => client.close())

  const refusal = await client.login('client@example.com', PASSWORD).catch((error: unknown) => error)
  t.type(refusal, LatchkeyError)
  const error = refusal as LatchkeyError
  t.equal(error.error, 'mfa_required')
  t.equal(error.status, 401)
  t.type(error.body.mfa_token, 'string')
  t.equal(client.state.status, 'signed-out')

  const wrong = await client
    .loginWithCode(error.body.mfa_token as string, totpCode(secret, testApp.clock.now() + 300_000))
    .catch((e: unknown) => e)
  t.match(wrong, { error: 'invalid_mfa_code', status: 401 })

  const state = await client.loginWithCode(error.body.mfa_token as string, totpCode(secret, testApp.clock.now()))
  t.equal(state.status, 'signed-in')
  t.same(state.status === 'signed-in' ? state.claims.amr : null, ['pwd', 'otp', 'mfa'])
})
