import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'

const kekModule = pathToFileURL(path.resolve(import.meta.dirname, '../../keys/kek.ts')).href

function loadKekInChild(dataDir: string): Promise<string> {
  const script = `import { loadKek } from ${JSON.stringify(kekModule)}
import { pino } from 'pino'
process.stdout.write(Buffer.from(loadKek({ kek: null, dataDir: ${JSON.stringify(dataDir)} }, pino({ level: 'silent' }))).toString('hex'))`
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk))
    child.stderr.on('data', (chunk: Buffer) => (err += chunk))
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}`))))
  })
}

t.test('processes starting at once on a fresh data dir all end up with one and the same generated KEK', async (t) => {
  const dataDir = path.join(t.testdir(), 'data')
  const keys = await Promise.all(Array.from({ length: 6 }, () => loadKekInChild(dataDir)))
  t.equal(new Set(keys).size, 1, 'every process read the same key, none a half-written one')
  t.equal(keys[0]!.length, 64, 'a 32-byte key')
  t.same(fs.readdirSync(dataDir), ['kek'], 'no draft file is left behind')
})
