import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import net from 'node:net'
import t from 'tap'
import { freePort } from '../helpers/free-port.js'
import { testDirOf } from '../helpers/test-database.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')

t.test('serve starts with zero configuration and shuts down gracefully on SIGTERM', async (t) => {
  const dataDir = testDirOf(t)
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'server/cli/main.ts'), 'serve'], {
    cwd: dataDir,
    env: { PATH: process.env.PATH ?? '', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let logs = ''
  child.stdout.on('data', (d) => (logs += d))
  child.stderr.on('data', (d) => (logs += d))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(() => child.kill('SIGKILL'))

  let ready = false
  for (let i = 0; i < 100 && !ready; i++) {
    ready = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    )
    if (!ready) await new Promise((r) => setTimeout(r, 100))
  }
  t.ok(ready, 'ready on the default SQLite database with generated keys')
  t.ok(fs.existsSync(path.join(dataDir, 'data/latchkey.db')), 'SQLite under ./data')
  t.ok(fs.existsSync(path.join(dataDir, 'data/kek')), 'a generated KEK under ./data')
  t.match(logs, /"event":"kek.generated"/, 'with a warning about the generated KEK')

  // A request in flight when SIGTERM arrives (headers sent, body still coming) is answered.
  const socket = net.connect(port, '127.0.0.1')
  await new Promise((r) => socket.once('connect', r))
  let response = ''
  socket.on('data', (d) => (response += d))
  const body = 'grant_type=client_credentials'
  socket.write(
    `POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`,
  )
  await new Promise((r) => setTimeout(r, 100))
  child.kill('SIGTERM')
  await new Promise((r) => setTimeout(r, 300))
  socket.write(body)
  await new Promise((r) => socket.once('close', r))
  t.match(response, /^HTTP\/1\.1 401 Unauthorized/, 'the in-flight request got its real answer')
  t.match(response, /"error":"invalid_client"/)
  t.equal(
    await fetch(`${base}/healthz`).then(
      (r) => r.status,
      () => 'refused',
    ),
    'refused',
    'new connections are refused once closing',
  )
  t.equal(await exited, 0, 'exit status 0')
  t.match(logs, /"event":"server.stopping","signal":"SIGTERM"/)
})
