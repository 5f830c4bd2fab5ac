import { randomBytes, randomUUID } from 'node:crypto'
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
type Tap = Pick<typeof t, 'equal' | 'ok' | 'same' | 'match'>
import { enrolTotp, passwordStep, secondStep, totpCode } from '../helpers/totp.js'
import { PASSWORD, nextClientIp, registerUser } from '../helpers/users.js'
import { insertPasskey } from '../../server/passkeys/passkey.store.js'

// Finding M3 for the second step: every way to answer an mfa_token (a code, a passkey, the code
// that confirms TOTP enrolled at sign-in) reserves an attempt on the account's back-off before it
// is checked. 20 mfa_tokens × 5 wrong answers sent all at once: no more are evaluated than the
// back-off allows one at a time (5 free failures while the clock stands still); the rest are 429.

const TOKENS = 20
const PER_TOKEN = 5
const FREE_FAILURES = 5

/** Status and error of each answer, counted. */
function tally(responses: LightMyRequestResponse[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const r of responses) {
    const key = `${r.statusCode} ${r.json<{ error: string }>().error}`
    counts[key] = (counts[key] ?? 0) + 1
  }
  return counts
}

function assertOnlyAllowanceEvaluated(t: Tap, responses: LightMyRequestResponse[], evaluated: string) {
  const counts = tally(responses)
  t.equal(responses.length, TOKENS * PER_TOKEN)
  t.ok((counts[evaluated] ?? 0) >= 1, `some answers were checked: ${JSON.stringify(counts)}`)
  t.ok((counts[evaluated] ?? 0) <= FREE_FAILURES, `at most the allowance was checked: ${JSON.stringify(counts)}`)
  t.same(Object.keys(counts).sort(), [evaluated, '429 too_many_attempts'].sort(), 'nothing else answered')
  const refused = responses.find((r) => r.statusCode === 429)!
  t.match(refused.headers['retry-after'], /^\d+$/)
}

const wrongCode = (secret: string, now: number) => (totpCode(secret, now) === '000000' ? '000001' : '000000')

const post = (testApp: TestApp, url: string, payload: object) =>
  testApp.app.inject({ method: 'POST', url, payload, remoteAddress: nextClientIp() })

for (const dialect of testDialects()) {
  t.test(`second-step answers in parallel stay within the back-off on ${dialect}`, async (t) => {
    t.test('TOTP codes', async (t) => {
      const testApp = await buildTestApp(t, { dialect })
      await registerUser(testApp, 'codes@example.com')
      const { secret } = await enrolTotp(testApp, 'codes@example.com')
      const tokens: string[] = []
      for (let i = 0; i < TOKENS; i++) tokens.push(await passwordStep(testApp, 'codes@example.com'))
      const wrong = wrongCode(secret, testApp.clock.now())
      const responses = await Promise.all(
        tokens.flatMap((token) => Array.from({ length: PER_TOKEN }, () => secondStep(testApp, token, wrong))),
      )
      assertOnlyAllowanceEvaluated(t, responses, '401 invalid_mfa_code')
    })

    t.test('passkeys as the second step', async (t) => {
      const testApp = await buildTestApp(t, { dialect })
      await registerUser(testApp, 'keys@example.com')
      const user = await testApp.deps.db
        .selectFrom('users')
        .select('id')
        .where('email', '=', 'keys@example.com')
        .executeTakeFirstOrThrow()
      // A stored passkey makes it a second factor; no authenticator is needed to answer wrongly.
      await insertPasskey(testApp.deps.db, {
        id: randomUUID(),
        userId: user.id,
        credentialId: randomBytes(16).toString('base64url'),
        publicKey: new Uint8Array(randomBytes(77)),
        signCount: 0,
        transports: [],
        backupEligible: false,
        backedUp: false,
        name: 'key',
        createdAt: testApp.clock.now(),
        lastUsedAt: null,
      })
      const tokens: string[] = []
      for (let i = 0; i < TOKENS; i++) tokens.push(await passwordStep(testApp, 'keys@example.com'))
      const bogus = {
        id: 'AAAA',
        rawId: 'AAAA',
        type: 'public-key',
        response: {
          clientDataJSON: Buffer.from('{"type":"webauthn.get","challenge":"AAAA"}').toString('base64url'),
          authenticatorData: 'AAAA',
          signature: 'AAAA',
        },
        clientExtensionResults: {},
      }
      const responses = await Promise.all(
        tokens.flatMap((token) =>
          Array.from({ length: PER_TOKEN }, () =>
            post(testApp, '/auth/login/mfa/passkey', { mfa_token: token, response: bogus }),
          ),
        ),
      )
      const checked = responses.find((r) => r.statusCode !== 429)!
      assertOnlyAllowanceEvaluated(t, responses, `${checked.statusCode} ${checked.json<{ error: string }>().error}`)
    })

    t.test('the code that confirms TOTP enrolled at sign-in (LATCHKEY_MFA=required)', async (t) => {
      const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_MFA: 'required' } })
      await registerUser(testApp, 'enrol@example.com')
      const tokens: string[] = []
      for (let i = 0; i < TOKENS; i++) {
        const res = await post(testApp, '/auth/login', { email: 'enrol@example.com', password: PASSWORD })
        t.equal(res.json<{ error: string }>().error, 'mfa_enrolment_required')
        tokens.push(res.json<{ mfa_token: string }>().mfa_token)
      }
      const setup = await post(testApp, '/auth/login/mfa/totp/setup', { mfa_token: tokens[0] })
      t.equal(setup.statusCode, 200, setup.body)
      const wrong = wrongCode(setup.json<{ secret: string }>().secret, testApp.clock.now())
      const responses = await Promise.all(
        tokens.flatMap((token) =>
          Array.from({ length: PER_TOKEN }, () =>
            post(testApp, '/auth/login/mfa/totp/confirm', { mfa_token: token, code: wrong }),
          ),
        ),
      )
      assertOnlyAllowanceEvaluated(t, responses, '400 invalid_mfa_code')
    })
  })
}
