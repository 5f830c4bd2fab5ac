import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import autocannon from 'autocannon'
const cli = path.resolve(process.env.ROOT ?? '.', 'dist/server/cli/main.js')
const port = 3999
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lk-prof-'))
const env = { ...process.env, PORT: String(port), LATCHKEY_DATA_DIR: dataDir, LOG_LEVEL: 'warn', LATCHKEY_RATE_LIMITS: 'false', LATCHKEY_ISSUER: `http://127.0.0.1:${port}` }
const PASSWORD = 'a benchmark passphrase 2026'
execFileSync(process.execPath, [cli, 'users', 'create', '--email', 'p@example.com', '--password-stdin'], { env, input: PASSWORD })
const child = spawn(process.execPath, [...(process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []), cli, 'serve'], { env, stdio: 'inherit' })
const base = `http://127.0.0.1:${port}`
for (let i = 0; i < 200; i++) { if (await fetch(`${base}/readyz`).then((r) => r.ok, () => false)) break; await new Promise((r) => setTimeout(r, 100)) }
const cookies: string[] = []
for (let i = 0; i < 50; i++) {
  const res = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'p@example.com', password: PASSWORD }) })
  cookies.push(res.headers.getSetCookie()[0]!.split(';')[0]!)
}
const r = await autocannon({ url: base, connections: 50, duration: Number(process.env.D ?? 8), requests: [{ method: 'POST', path: '/auth/refresh',
  setupRequest: (req) => ({ ...req, headers: { origin: base, 'x-requested-with': 'latchkey', cookie: cookies.pop() ?? '' } }),
  onResponse: (status, _b, _c, headers) => { const sc = Object.entries(headers).find(([n]) => n.toLowerCase() === 'set-cookie')?.[1]; const f = Array.isArray(sc) ? sc[0] : sc; if (status === 200 && f) cookies.push(f.split(';')[0]!) } }] })
console.log(`refresh ${Math.round(r.requests.average)}/s p50 ${r.latency.p50} p99 ${r.latency.p99} non2xx ${r.non2xx}`)
child.kill('SIGINT')
await new Promise((r) => child.once('exit', r))
