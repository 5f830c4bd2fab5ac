import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import t from 'tap'
import { freePort } from '../helpers/free-port.js'
import { grantNotes, NOTES_AUDIENCE, startLatchkey } from '../helpers/resource-service.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const serverFile = path.join(repoRoot, 'examples/notes-service/server.ts')

t.test("the README shows the notes service's entry point exactly as it is tested", async (t) => {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8')
  t.ok(
    readme.includes(fs.readFileSync(serverFile, 'utf8')),
    'README.md embeds examples/notes-service/server.ts verbatim',
  )
})

t.test(
  'the notes service runs as its README says, next to a listening Latchkey, with CORS for the configured origin',
  async (t) => {
    const latchkey = await startLatchkey(t, 'sqlite')
    const port = await freePort()
    const service = spawn(process.execPath, ['--import', 'tsx', '--conditions=latchkey-source', serverFile], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '',
        LATCHKEY_ISSUER: latchkey.issuer,
        NOTES_AUDIENCE,
        PORT: String(port),
        NOTES_CORS_ORIGINS: 'http://localhost:5173',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    t.teardown(() => service.kill())
    await new Promise<void>((resolve) =>
      service.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()),
    )
    const base = `http://127.0.0.1:${port}`

    // The child runs on the real clock, which the test clock started from.
    const ada = await grantNotes(latchkey, 'ada@example.com')
    const res = await fetch(`${base}/users/${ada.userId}/notes`, {
      headers: { authorization: `Bearer ${ada.accessToken}`, origin: 'http://localhost:5173' },
    })
    t.equal(res.status, 200)
    t.same(await res.json(), { notes: [] })
    t.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:5173')

    const preflight = await fetch(`${base}/users/${ada.userId}/notes`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:5173',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    })
    t.equal(preflight.status, 204, 'a preflight needs no token')
    t.equal(preflight.headers.get('access-control-allow-origin'), 'http://localhost:5173')
    const stranger = await fetch(`${base}/users/${ada.userId}/notes`, {
      headers: { authorization: `Bearer ${ada.accessToken}`, origin: 'http://evil.test' },
    })
    t.equal(stranger.headers.get('access-control-allow-origin'), null, 'other origins get no CORS headers')

    const refused = await fetch(`${base}/users/${ada.userId}/notes`, { headers: { authorization: 'Bearer nonsense' } })
    t.equal(refused.status, 401)
    t.equal(
      refused.headers.get('www-authenticate'),
      'Bearer error="invalid_token", error_description="The access token is malformed"',
    )
  },
)
