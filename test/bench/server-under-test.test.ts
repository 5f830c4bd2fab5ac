// The comparison's machinery against a real child: bench/servers/oidc-provider.ts started as a
// server under test, one short autocannon phase, its RSS, and SIGTERM.
import t from 'tap'
import { requestAccessToken } from '../../bench/lib/client-credentials.js'
import { memoryOf } from '../../bench/lib/process-memory.js'
import { measureWorkload } from '../../bench/lib/server-under-test.js'
import { loadBenchSettings } from '../../bench/lib/settings.js'
import { oidcProvider } from '../../bench/servers/oidc-provider.js'
import { SCOPE } from '../../bench/servers/token-server.js'

t.test('a server under test starts, answers its workloads under load, and stops on SIGTERM', async (t) => {
  const settings = loadBenchSettings({
    env: {},
    argv: ['--duration', '1', '--warmup', '0', '--connections', '4', '--max-attempts', '1'],
  })
  const server = await oidcProvider.start(settings)
  t.teardown(() => server.stop())

  t.equal(server.servingPid, server.process.pid, 'the node child itself holds the listening socket')
  t.match(await memoryOf(server.servingPid), { pid: server.servingPid, command: /--input-type=module -e/ })
  t.match(await requestAccessToken(server.name, server.workloads.token, SCOPE), /^eyJ/)

  const token = await measureWorkload(server, server.workloads.token, 'token requests', settings)
  t.ok(token.total2xx > 0, 'autocannon got tokens')
  t.match(token, { non2xx: 0, errors: 0, timeouts: 0, attempts: 1 })
  t.ok(token.requestsPerSecond > 0)

  t.same(await server.stop(), { graceful: true, exit: { code: 0, signal: null } })
  await t.rejects(fetch(server.workloads.jwks.url), 'nothing answers once stopped')
})
