import t from 'tap'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'

const form = 'application/x-www-form-urlencoded'

/** The count of latchkey_http_request_duration_seconds for one label set, 0 when absent. */
function countOf(text: string, method: string, route: string, statusClass: string): number {
  const line = `latchkey_http_request_duration_seconds_count{method="${method}",route="${route}",status_class="${statusClass}"} `
  const found = text.split('\n').find((l) => l.startsWith(line))
  return found === undefined ? 0 : Number(found.slice(line.length))
}

// http/request-metrics.ts observes through a hook per route with label sets kept per route.
t.test('every response is observed once, by route pattern, method and status class', async (t) => {
  const testApp = await buildTestApp(t)
  const { app } = testApp
  const client = await registerClient(testApp)
  const token = (authorization: string) =>
    app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': form, authorization },
      payload: 'grant_type=client_credentials',
    })
  for (let i = 0; i < 3; i++) t.equal((await token(client.basic)).statusCode, 200)
  const wrong = `Basic ${Buffer.from(`${client.id}:wrong`).toString('base64')}`
  t.equal((await token(wrong)).statusCode, 401)
  t.equal((await app.inject({ url: '/no/such/path?x=1' })).statusCode, 404)
  t.equal((await app.inject({ url: '/oauth/token' })).statusCode, 405)
  t.equal((await app.inject({ method: 'HEAD', url: '/.well-known/jwks.json' })).statusCode, 200)
  t.equal((await app.inject({ url: '/.well-known/jwks.json' })).statusCode, 200)

  const text = (await app.inject({ url: '/metrics' })).body
  t.equal(countOf(text, 'POST', '/oauth/token', '2xx'), 3)
  t.equal(countOf(text, 'POST', '/oauth/token', '4xx'), 1)
  t.equal(countOf(text, 'GET', 'unmatched', '4xx'), 1, 'a request no route matched')
  t.equal(countOf(text, 'GET', '/oauth/token', '4xx'), 1, 'the 405 of a route refusing a method')
  t.equal(countOf(text, 'HEAD', '/.well-known/jwks.json', '2xx'), 1, 'a HEAD request counts once')
  t.equal(countOf(text, 'GET', '/.well-known/jwks.json', '2xx'), 1)
  t.notMatch(text, /no\/such\/path/, 'never the raw path')
})
