// A PostgreSQL server and a Redis server of a test's own, in its test directory on free ports, so
// the test may stop and start them without touching the shared ones other tests use. PostgreSQL
// refuses to run as root: initdb and pg_ctl run as the postgres user (runuser), as on Debian.
import fs from 'node:fs'
import path from 'node:path'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { freePort } from './free-port.js'
import { testDirOf, type Tap } from './test-database.js'

export interface OwnService {
  url: string
  /** Stops the server; clients connected to it see their connections cut. */
  stop(): Promise<void>
  /** Starts it again on the same port, with the same data. */
  start(): Promise<void>
}

const asPostgres = (args: string[]) => ['-u', 'postgres', '--', ...args]

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' })
  if (result.error) throw result.error
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr || result.stdout}`)
}

/** initdb in the test directory, started with pg_ctl on a free loopback port; stopped at teardown. */
export async function startOwnPostgres(t: Tap): Promise<OwnService> {
  const root = path.join(testDirOf(t), 'postgres')
  const data = path.join(root, 'data')
  fs.mkdirSync(root, { recursive: true })
  // The postgres user must reach its directory; the test directory itself belongs to root.
  for (let dir = root; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const mode = fs.statSync(dir).mode
    if ((mode & 0o001) === 0) fs.chmodSync(dir, mode | 0o001)
  }
  run('chown', ['postgres:postgres', root])
  run('runuser', asPostgres(['initdb', '-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']))
  const port = await freePort()
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off`
  const log = path.join(root, 'server.log')
  const service: OwnService = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      // Fast shutdown: every session is ended with 57P01 admin_shutdown, as an operator's restart does.
      run('runuser', asPostgres(['pg_ctl', '-D', data, '-m', 'fast', '-w', 'stop']))
    },
    async start() {
      try {
        run('runuser', asPostgres(['pg_ctl', '-D', data, '-l', log, '-o', options, '-w', 'start']))
      } catch (error) {
        // pg_ctl only says "Examine the log output": the reason is in the server's log.
        const tail = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').slice(-20).join('\n') : ''
        throw new Error(`${(error as Error).message}\n${tail}`, { cause: error })
      }
    },
  }
  await service.start()
  t.teardown(() => {
    spawnSync('runuser', asPostgres(['pg_ctl', '-D', data, '-m', 'immediate', 'stop']))
  })
  return service
}

export function ownServicesAvailable(): string | null {
  for (const [command, args] of [
    ['runuser', ['--version']],
    ['initdb', ['--version']],
    ['pg_ctl', ['--version']],
    ['redis-server', ['--version']],
  ] as const) {
    const probe = spawnSync(command, args)
    if (probe.error || probe.status !== 0) return `${command} is not available`
  }
  return process.getuid?.() === 0 ? null : 'runuser needs root to start PostgreSQL as the postgres user'
}

/** redis-server on a free loopback port, without persistence; stopped at teardown. */
export async function startOwnRedis(t: Tap): Promise<OwnService> {
  const dir = path.join(testDirOf(t), 'redis')
  fs.mkdirSync(dir, { recursive: true })
  const port = await freePort()
  let child: ChildProcess | null = null
  const service: OwnService = {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      const running = child
      if (!running || running.exitCode !== null) return
      const exited = new Promise((resolve) => running.once('exit', resolve))
      running.kill('SIGTERM')
      await exited
    },
    async start() {
      const spawned = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      )
      child = spawned
      await new Promise<void>((resolve, reject) => {
        let output = ''
        const onData = (chunk: Buffer) => {
          output += chunk.toString('utf8')
          if (output.includes('Ready to accept connections')) resolve()
        }
        spawned.stdout!.on('data', onData)
        spawned.stderr!.on('data', onData)
        spawned.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${output}`)))
      })
    },
  }
  await service.start()
  t.teardown(() => service.stop())
  return service
}
