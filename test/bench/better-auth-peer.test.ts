// The Better Auth peer (bench/peers/better-auth) as bench/run.ts measures it: started from its own
// folder, one signed-up session whose JWT verifies against the plugin's JWKS (checked by start), a
// short load of both workloads, SIGTERM. Skipped unless the peer is installed already (`npm run
// bench:peers`): the root `npm ci` and CI never install it, and this test does not either.
import t from 'tap'
import { installedPeer } from '../../bench/lib/peer.js'
import { measureWorkload } from '../../bench/lib/server-under-test.js'
import { loadBenchSettings } from '../../bench/lib/settings.js'
import { betterAuth } from '../../bench/servers/better-auth.js'

const peer = await installedPeer('better-auth')

t.test(
  'Better Auth issues session JWTs and serves its JWKS under load, and stops on SIGTERM',
  { skip: peer ? false : 'bench/peers/better-auth is not installed (npm run bench:peers installs it)' },
  async (t) => {
    const settings = loadBenchSettings({
      env: {},
      argv: ['--duration', '1', '--warmup', '0', '--connections', '4', '--max-attempts', '1'],
    })
    const server = await betterAuth(peer!).start(settings)
    t.teardown(() => server.stop())

    t.equal(server.servingPid, server.process.pid, 'the node child itself holds the listening socket')
    t.match(server.workloads.token, { url: `${server.origin}/api/auth/token`, method: 'GET' })
    t.match(server.workloads.token.headers, { cookie: /^better-auth\.session_token=/ })
    t.match(server.firstToken, /^eyJ/)
    for (const workload of [server.workloads.token, server.workloads.jwks]) {
      const stats = await measureWorkload(server, workload, workload.url, settings)
      t.ok(stats.total2xx > 0, `autocannon got answers from ${workload.url}`)
      t.match(stats, { non2xx: 0, errors: 0, timeouts: 0, attempts: 1 })
    }

    t.same(await server.stop(), { graceful: true, exit: { code: 0, signal: null } })
    await t.rejects(fetch(server.workloads.jwks.url), 'nothing answers once stopped')
  },
)
