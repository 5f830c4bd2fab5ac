import t from 'tap'
import Fastify from 'fastify'
import { bearerTokenOf, createVerifier, isVerifierError } from '@latchkey/verifier'
import { latchkeyAuth } from '@latchkey/verifier/fastify'

// Regression (hardening H2): `Authorization` was parsed with /^Bearer +(\S*) *$/i, which
// backtracks quadratically on `Bearer ` + many spaces + `a b` (~220 ms of a resource service's
// event loop per request at 16,000 spaces). The header is now scanned once and capped at 8 KB.
// A malformed header never reaches the key set or the feed, so no Latchkey is needed here.

const TOKEN_CAP = 8 * 1024
const CAP = TOKEN_CAP + 64

const codeOf = (header: string | undefined) => {
  try {
    return bearerTokenOf(header)
  } catch (error) {
    return isVerifierError(error) ? error.code : 'other'
  }
}

async function resourceService(t: { teardown(fn: () => unknown): void }) {
  const verifier = createVerifier({
    issuer: 'http://127.0.0.1:1',
    audience: 'http://localhost:4000',
    jwksUri: 'http://127.0.0.1:1/.well-known/jwks.json',
    revocationsUri: false,
    onError: () => {},
  })
  const app = Fastify()
  await app.register(latchkeyAuth, { verifier, origin: 'http://localhost:4000' })
  app.get('/notes', async () => ({ ok: true }))
  t.teardown(async () => {
    verifier.close()
    await app.close()
  })
  return app
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

t.test('the Authorization header is read as RFC 6750 §2.1 says, whatever its shape', async (t) => {
  t.equal(codeOf('Bearer abc.def.ghi'), 'abc.def.ghi')
  t.equal(codeOf('bearer   abc  '), 'abc', 'scheme case-insensitive, spaces around the token ignored')
  t.equal(codeOf('BEARER abc'), 'abc')
  t.equal(codeOf(undefined), 'token_missing')
  t.equal(codeOf(['Bearer a', 'Bearer b'] as unknown as string), 'token_missing', 'two headers are no credentials')
  t.equal(codeOf(''), 'token_missing')
  t.equal(codeOf('Bearer'), 'token_missing', 'the scheme needs at least one space after it')
  t.equal(codeOf('Bearerabc'), 'token_missing')
  t.equal(codeOf('Basic abc'), 'token_missing')
  t.equal(codeOf('Bearer a b'), 'token_missing', 'two words are not a b64token')
  t.equal(codeOf('Bearer\tabc'), 'token_missing', 'only spaces separate the scheme from the token')
  t.equal(codeOf('Bearer abc\t'), 'token_missing')
  t.equal(codeOf('Bearer a\u00a0b'), 'token_missing', 'no whitespace of any kind inside the token')
  t.equal(codeOf('Bearer '), 'token_malformed', 'a scheme with an empty token is malformed')
  t.equal(codeOf('Bearer     '), 'token_malformed')
  t.equal(codeOf(`Bearer ${'a'.repeat(CAP - 'Bearer '.length)}`), 'a'.repeat(CAP - 'Bearer '.length), 'up to the cap')
  t.equal(
    codeOf(`Bearer ${'a'.repeat(TOKEN_CAP)}`),
    'a'.repeat(TOKEN_CAP),
    'a header with the longest token verify() takes is read (the header cap leaves room for the scheme)',
  )
  t.equal(codeOf(`Bearer ${'a'.repeat(CAP)}`), 'token_malformed', 'a header over the cap is refused unread')
})

t.test('a header built to make a regex backtrack costs no more than a request without one', async (t) => {
  const app = await resourceService(t)
  const reported = `Bearer ${' '.repeat(16_000)}a b`
  const underCap = `Bearer ${' '.repeat(CAP - 'Bearer '.length - 3)}a b`
  t.equal(underCap.length, CAP)

  const tooLarge = await app.inject({ url: '/notes', headers: { authorization: reported } })
  t.equal(tooLarge.statusCode, 401)
  t.same(tooLarge.json(), { error: 'invalid_token', error_description: 'The access token is malformed' })
  t.equal(
    tooLarge.headers['www-authenticate'],
    'Bearer error="invalid_token", error_description="The access token is malformed"',
  )
  const twoWords = await app.inject({ url: '/notes', headers: { authorization: underCap } })
  t.equal(twoWords.statusCode, 401)
  t.same(twoWords.json(), { error: 'invalid_request', error_description: 'A bearer access token is required' })

  // Interleaved, so a load spike on this shared machine hits every kind alike; the bar is a ratio
  // to the cheapest request the service answers (no header at all), measured in the same run.
  const timings: Record<'none' | 'reported' | 'underCap', number[]> = { none: [], reported: [], underCap: [] }
  const headers = { none: undefined, reported, underCap }
  for (let round = 0; round < 40; round++) {
    for (const kind of ['none', 'reported', 'underCap'] as const) {
      const authorization = headers[kind]
      const started = process.hrtime.bigint()
      const res = await app.inject({ url: '/notes', headers: authorization === undefined ? {} : { authorization } })
      timings[kind].push(Number(process.hrtime.bigint() - started) / 1e6)
      if (res.statusCode !== 401) t.fail(`${kind} answered ${res.statusCode}`)
    }
  }
  const none = median(timings.none)
  for (const kind of ['reported', 'underCap'] as const) {
    const ms = median(timings[kind])
    t.comment(`${kind}: median ${ms.toFixed(3)} ms, no header: ${none.toFixed(3)} ms`)
    t.ok(ms < 3 * none, `${kind}: median ${ms.toFixed(3)} ms is within 3× of a request without a header`)
  }
})
