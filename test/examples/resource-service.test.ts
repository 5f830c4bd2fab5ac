import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import t from 'tap'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'
import { freePort } from '../helpers/free-port.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const exampleFile = path.join(repoRoot, 'examples/resource-service/server.ts')

t.test('the README shows the resource-service example exactly as it is tested', async (t) => {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8')
  t.ok(readme.includes(fs.readFileSync(exampleFile, 'utf8')), 'README.md embeds examples/resource-service/server.ts verbatim')
})

t.test('the README resource service accepts a Latchkey token and refuses anything else', async (t) => {
  const latchkeyPort = await freePort()
  const issuer = `http://127.0.0.1:${latchkeyPort}`
  const testApp = await buildTestApp(t, { env: { LATCHKEY_ISSUER: issuer } })
  await testApp.app.listen({ port: latchkeyPort, host: '127.0.0.1' })
  const client = await registerClient(testApp)

  const servicePort = await freePort()
  const service = spawn(process.execPath, ['--import', 'tsx', exampleFile], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', LATCHKEY_ISSUER: issuer, AUDIENCE: 'https://api.example.com', PORT: String(servicePort) },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => service.kill())
  await new Promise<void>((resolve) => service.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()))

  const tokenRes = await fetch(`${issuer}/oauth/token`, {
    method: 'POST',
    headers: { authorization: client.basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&scope=notes:read',
  })
  const { access_token: accessToken } = (await tokenRes.json()) as { access_token: string }

  const ok = await fetch(`http://127.0.0.1:${servicePort}/`, { headers: { authorization: `Bearer ${accessToken}` } })
  t.equal(ok.status, 200)
  t.same(await ok.json(), { subject: client.id, scope: 'notes:read' })

  const [header, payload, signature] = accessToken.split('.')
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString())
  const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, scope: 'notes:write' })).toString('base64url')}.${signature}`
  for (const bad of ['', 'Bearer nonsense', `Bearer ${tampered}`]) {
    const res = await fetch(`http://127.0.0.1:${servicePort}/`, { headers: { authorization: bad } })
    t.equal(res.status, 401, `refused: ${bad.slice(0, 20)}`)
    t.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
  }
})
