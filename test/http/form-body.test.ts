import t from 'tap'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'

// Regression (hardening M1): the form parser copied the array on every repeated parameter, so a
// 64 KB body of `resource=a&…` cost ~37 ms of CPU before its 400, unauthenticated, on every form
// endpoint. Values are now pushed in place and a parameter repeated more often than allowed
// (once; `resource` up to 10 times, RFC 8707) is refused as soon as it repeats. The parser runs
// before any query, so SQLite only.

const form = 'application/x-www-form-urlencoded'
const BODY_LIMIT = 64 * 1024
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/** As many `name=a&` pairs as fit, `tail` last, the whole under the 64 KB body limit. */
function fill(pair: (i: number) => string, tail: string): string {
  const parts: string[] = []
  let length = tail.length
  for (let i = 0; ; i++) {
    const next = `${pair(i)}&`
    if (length + next.length > BODY_LIMIT) break
    parts.push(next)
    length += next.length
  }
  return parts.join('') + tail
}

t.test('repeated form parameters', async (t) => {
  const testApp = await buildTestApp(t)
  const { app } = testApp
  const client = await registerClient(testApp)
  const post = (url: string, payload: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url, headers: { 'content-type': form, ...headers }, payload })
  const resources = (n: number) =>
    Array.from({ length: n }, (_, i) => `resource=${encodeURIComponent(`https://api${i}.example.com`)}`).join('&')

  t.test('a repeated parameter is invalid_request on the token, revocation and introspection endpoints', async (t) => {
    for (const url of ['/oauth/token', '/oauth/revoke', '/oauth/introspect']) {
      const res = await post(url, 'token=a&grant_type=client_credentials&token=b')
      t.equal(res.statusCode, 400, url)
      t.equal(res.headers['cache-control'], 'no-store')
      t.same(res.json(), { error: 'invalid_request', error_description: 'parameter token is repeated' }, url)
    }
  })

  t.test('resource may repeat up to 10 times (RFC 8707), the 11th is invalid_request', async (t) => {
    const ten = await post('/oauth/token', `grant_type=client_credentials&${resources(10)}`, {
      authorization: client.basic,
    })
    t.equal(ten.statusCode, 400)
    t.equal(ten.json().error, 'invalid_target', 'ten resources reach the grant, which names its own error')
    const eleven = await post('/oauth/token', `grant_type=client_credentials&${resources(11)}`, {
      authorization: client.basic,
    })
    t.equal(eleven.statusCode, 400)
    t.same(eleven.json(), {
      error: 'invalid_request',
      error_description: 'parameter resource is repeated more than 10 times',
    })
  })

  t.test('a hosted form answers the same refusal as a page', async (t) => {
    const res = await post(
      '/signout',
      fill(() => 'resource=a', 'csrf=x'),
    )
    t.equal(res.statusCode, 400)
    t.match(res.headers['content-type'], /^text\/html/)
    t.match(res.body, /Parameter resource is repeated more than 10 times\./)
  })

  t.test('a 64 KB body of one repeated parameter costs no more than parsing 64 KB of distinct ones', async (t) => {
    // The attack, and a calibration of the same size and pair count that is refused only at its
    // last pair (a repeated grant_type) without ever building an array: the parse itself.
    const attack = fill(() => 'resource=a', 'grant_type=client_credentials')
    const calibration = fill((i) => `p${i.toString(36).padStart(7, '0')}=a`, 'grant_type=x&grant_type=y')
    t.ok(attack.length > 60_000 && attack.length <= BODY_LIMIT)
    t.ok(Math.abs(calibration.length - attack.length) < 32)
    const timings: Record<'attack' | 'calibration', number[]> = { attack: [], calibration: [] }
    const bodies = { attack, calibration }
    for (let round = 0; round < 15; round++) {
      for (const kind of ['attack', 'calibration'] as const) {
        for (const url of ['/oauth/token', '/oauth/revoke', '/oauth/introspect']) {
          const started = process.hrtime.bigint()
          const res = await post(url, bodies[kind])
          timings[kind].push(Number(process.hrtime.bigint() - started) / 1e6)
          if (res.statusCode !== 400 || res.json().error !== 'invalid_request')
            t.fail(`${kind} on ${url}: ${res.statusCode} ${res.body}`)
        }
      }
    }
    const attackMs = median(timings.attack)
    const calibrationMs = median(timings.calibration)
    t.comment(
      `64 KB of resource=a: median ${attackMs.toFixed(2)} ms; 64 KB of distinct names: ${calibrationMs.toFixed(2)} ms`,
    )
    t.ok(attackMs < 2 * calibrationMs, `the repeated body (${attackMs.toFixed(2)} ms) is within 2× of the calibration`)
  })
})
