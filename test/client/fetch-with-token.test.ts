import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { createTokenFetch } from '../../client/src/fetch-with-token.js'

// Regression (hardening L5): the client's token-attaching fetch sent the bearer token to any URL,
// cross-origin included. It now sends it only to the page's origin and the configured apiOrigins.
// Real servers on loopback stand for the app, an API and a stranger; each records what reached it.
// Node has no `location`, so the page's URL is given as pageUrl (the browser end-to-end test in
// test/examples/web-app.test.ts covers the default from `location`).

interface Recorder {
  origin: string
  /** The Authorization header of every request that arrived, in order. */
  seen: (string | null)[]
}

async function startRecorder(t: { teardown(fn: () => unknown): void }, answers: number[] = []): Promise<Recorder> {
  const seen: (string | null)[] = []
  const server = http.createServer((request, response) => {
    seen.push(request.headers.authorization ?? null)
    response.writeHead(answers.shift() ?? 200, { 'content-type': 'text/plain' }).end('ok')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
}

const refusal = (origin: string) => ({
  name: 'LatchkeyError',
  error: 'origin_not_allowed',
  description: `access tokens are not sent to ${origin} (see apiOrigins)`,
})

t.test('the token goes to the page origin and the configured origins, never elsewhere', async (t) => {
  const app = await startRecorder(t)
  const api = await startRecorder(t)
  const stranger = await startRecorder(t)
  const fetchWithToken = createTokenFetch({
    getToken: async () => 'the-token',
    refresh: async () => 'refreshed',
    apiOrigins: [api.origin],
    pageUrl: `${app.origin}/notes/page`,
  })

  t.equal((await fetchWithToken('/things')).status, 200, 'a relative URL resolves against the page')
  t.equal((await fetchWithToken('things?x=1')).status, 200, 'so does a path-relative one')
  t.same(app.seen, ['Bearer the-token', 'Bearer the-token'])

  await fetchWithToken(`${api.origin}/notes`)
  await fetchWithToken(new URL('/notes', api.origin))
  await fetchWithToken(new Request(`${api.origin}/notes`, { method: 'POST', body: 'x' }))
  t.same(api.seen, ['Bearer the-token', 'Bearer the-token', 'Bearer the-token'], 'string, URL and Request alike')

  const port = new URL(stranger.origin).port
  const elsewhere = [
    `${stranger.origin}/steal`,
    new URL('/steal', stranger.origin),
    new Request(`${stranger.origin}/steal`),
    `//127.0.0.1:${port}/steal`,
    `${app.origin}@127.0.0.1:${port}/steal`,
    `http://localhost:${new URL(app.origin).port}/things`,
  ]
  for (const input of elsewhere) {
    const target = new URL(input instanceof Request ? input.url : String(input), app.origin).origin
    await t.rejects(
      fetchWithToken(input),
      refusal(target),
      `refused: ${String(input instanceof Request ? input.url : input)}`,
    )
  }
  t.same(stranger.seen, [], 'nothing at all reached the other origin')
  t.same(app.seen.length, 2, 'and localhost is another origin than 127.0.0.1, even on the same port')
})

t.test('the retry after a 401 goes to the same allowed origin with the refreshed token', async (t) => {
  const api = await startRecorder(t, [401])
  let refreshes = 0
  const fetchWithToken = createTokenFetch({
    getToken: async () => 'stale',
    refresh: async () => {
      refreshes++
      return 'fresh'
    },
    apiOrigins: [api.origin],
  })
  t.equal((await fetchWithToken(`${api.origin}/notes`)).status, 200)
  t.same(api.seen, ['Bearer stale', 'Bearer fresh'])
  await t.rejects(
    fetchWithToken('/notes'),
    { name: 'LatchkeyError', error: 'origin_not_allowed' },
    'no page: a relative URL goes nowhere',
  )
  t.equal(refreshes, 1, 'a refused request never refreshes')
})

t.test('apiOrigins takes origins only, normalised', async (t) => {
  const api = await startRecorder(t)
  const fetchWithToken = createTokenFetch({
    getToken: async () => 'the-token',
    refresh: async () => null,
    apiOrigins: [`${api.origin.replace('http', 'HTTP')}/`],
  })
  await fetchWithToken(`${api.origin}/notes`)
  t.same(api.seen, ['Bearer the-token'], 'a trailing slash and the scheme case do not matter')
  for (const bad of [
    'https://api.example.com/v1',
    'https://api.example.com/?a=1',
    'https://u:p@api.example.com',
    'api.example.com',
    'data:text/plain,x',
  ]) {
    t.throws(
      () => createTokenFetch({ getToken: async () => null, refresh: async () => null, apiOrigins: [bad] }),
      TypeError,
      bad,
    )
  }
})
