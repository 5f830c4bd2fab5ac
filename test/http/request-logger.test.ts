import t from 'tap'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'

const form = 'application/x-www-form-urlencoded'

// http/request-logger.ts makes request.log on first use: the lines written must not change.
t.test('request.log, made on first use, writes the same lines', async (t) => {
  const lines: string[] = []
  const testApp = await buildTestApp(t, { logLines: lines })
  const client = await registerClient(testApp)
  const token = (authorization: string) =>
    testApp.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': form, authorization },
      payload: 'grant_type=client_credentials',
    })
  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>)

  t.test('a token request at info writes one access line with its reqId and the base bindings', async (t) => {
    lines.length = 0
    const res = await token(client.basic)
    t.equal(res.statusCode, 200)
    const access = parsed().filter((line) => line.msg === 'request completed')
    t.equal(access.length, 1)
    t.match(access[0], {
      level: 30,
      service: 'latchkey',
      reqId: /^req-/,
      method: 'POST',
      path: '/oauth/token',
      status: 200,
    })
  })

  t.test('a refused client is logged with the same reqId as its access line', async (t) => {
    lines.length = 0
    const wrong = `Basic ${Buffer.from(`${client.id}:wrong-${client.secret}`).toString('base64')}`
    const res = await token(wrong)
    t.equal(res.statusCode, 401)
    const all = parsed()
    const rejected = all.find((line) => line.event === 'request.rejected')
    const access = all.find((line) => line.msg === 'request completed')
    t.ok(rejected && access, 'both lines are written')
    t.equal(rejected?.reqId, access?.reqId)
    t.equal(rejected?.error, 'invalid_client')
    t.notOk(lines.join('\n').includes(client.secret), 'the secret is not logged')
  })

  t.test('each request has its own reqId', async (t) => {
    lines.length = 0
    await token(client.basic)
    await token(client.basic)
    const ids = parsed()
      .filter((line) => line.msg === 'request completed')
      .map((line) => line.reqId)
    t.equal(ids.length, 2)
    t.not(ids[0], ids[1])
  })
})
