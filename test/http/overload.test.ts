import t from 'tap'
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises'
import { buildTestApp } from '../helpers/build-test-app.js'

/** Keeps the event loop busy for `ms`, as a CPU-bound request would. */
function block(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) {
    // busy: nothing else can run on this loop meanwhile
  }
}

// The lag is real (under-pressure measures the event loop, not our clock), so this test waits for
// real: about two seconds of blocking and two of recovery.
t.test('a lagging event loop answers 503 with Retry-After, except /healthz and /metrics, then recovers', async (t) => {
  const { app } = await buildTestApp(t, { env: { LATCHKEY_MAX_EVENT_LOOP_DELAY_MS: '50' } })
  t.equal((await app.inject('/readyz')).statusCode, 200, 'ready while the loop is idle')

  const started = performance.now()
  while (performance.now() - started < 2_200) {
    block(200)
    await nextTurn()
  }
  const refused = await app.inject('/readyz')
  t.equal(refused.statusCode, 503)
  t.equal(refused.headers['retry-after'], '5')
  t.same(refused.json(), { status: 'not ready', checks: { event_loop: 'lagging' } })
  const token = await app.inject({ method: 'POST', url: '/oauth/token' })
  t.equal(token.statusCode, 503, 'every other route is refused too')
  t.equal(token.headers['retry-after'], '5')
  t.same(token.json(), {
    error: 'temporarily_unavailable',
    error_description: 'the server is overloaded; retry shortly',
  })
  t.equal((await app.inject('/healthz')).statusCode, 200, 'a lagging process is still alive')
  t.equal((await app.inject('/metrics')).statusCode, 200, 'and its metrics still show why it lags')

  await sleep(2_500)
  t.equal((await app.inject('/readyz')).statusCode, 200, 'ready again once the loop has caught up')
})

t.test('LATCHKEY_MAX_EVENT_LOOP_DELAY_MS=0 turns the check off', async (t) => {
  const { app } = await buildTestApp(t, { env: { LATCHKEY_MAX_EVENT_LOOP_DELAY_MS: '0' } })
  const started = performance.now()
  while (performance.now() - started < 1_500) {
    block(200)
    await nextTurn()
  }
  t.equal((await app.inject('/readyz')).statusCode, 200)
})
