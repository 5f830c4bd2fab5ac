import path from 'node:path'
import { spawn } from 'node:child_process'
import t from 'tap'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
import { freePort } from '../helpers/free-port.js'
import { DEVICE_CODE_GRANT, answerDeviceInBrowser } from '../helpers/device.js'
import { PASSWORD, registerUser } from '../helpers/users.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const cliFile = path.join(repoRoot, 'examples/device-cli/cli.ts')

t.test('the device CLI example signs in once the user allows it on /device, and gives up when denied', async (t) => {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  // The CLI sleeps on the real clock between polls, so Latchkey runs on it too.
  const realClock = {
    now: () => Date.now(),
    advance: () => {
      throw new Error('real time')
    },
    set: () => {
      throw new Error('real time')
    },
  }
  const testApp = await buildTestApp(t, { env: { LATCHKEY_ISSUER: issuer }, clock: realClock })
  await testApp.app.listen({ port, host: '127.0.0.1' })
  await registerUser(testApp, 'ada@example.com', PASSWORD)
  const cli = await registerClient(testApp, {
    name: 'Example CLI',
    type: 'public',
    grantTypes: [DEVICE_CODE_GRANT],
    scopes: ['openid', 'email'],
    audiences: [],
  })

  const run = (decision: 'allow' | 'deny') =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', cliFile], {
        cwd: repoRoot,
        env: { PATH: process.env.PATH ?? '', LATCHKEY_ISSUER: issuer, DEVICE_CLIENT_ID: cli.id },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      t.teardown(() => child.kill())
      let stdout = ''
      let stderr = ''
      let answered = false
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString()
        const complete = /\(or open (\S+)\)/.exec(stdout)?.[1]
        if (complete && !answered) {
          answered = true
          answerDeviceInBrowser(testApp, complete, 'ada@example.com', decision).catch(reject)
        }
      })
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      child.on('exit', (code) => resolve({ code, stdout, stderr }))
    })

  const [allowed, denied] = await Promise.all([run('allow'), run('deny')])
  t.equal(allowed.code, 0, allowed.stderr)
  t.match(allowed.stdout, /To sign in, open http:\/\/127\.0\.0\.1:\d+\/device and enter the code [A-Z]{4}-[A-Z]{4}/)
  t.match(allowed.stdout, 'Signed in as ada@example.com')
  t.equal(denied.code, 1)
  t.match(denied.stderr, 'The sign-in was denied.')
})
