import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { planDockerfile } from '../../.ci/dockerfile-check.js'
import { parseDockerfile } from '../../.ci/dockerfile/parse-dockerfile.js'
import { serveImage } from '../../.ci/dockerfile/serve-image.js'
import { STEPS } from '../../.ci/dockerfile/step-table.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const dockerfile = fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8')

/** The real Dockerfile with one literal piece of it replaced; fails the test if the piece is not there. */
function edited(from: string, to: string): string {
  if (!dockerfile.includes(from)) throw new Error(`the Dockerfile no longer contains ${JSON.stringify(from)}`)
  return dockerfile.replace(from, to)
}

function lineOf(text: string, needle: string): number {
  return text.split('\n').findIndex((line) => line.includes(needle)) + 1
}

/** The message planDockerfile fails with, or '' when the plan matches. */
function planFailure(source: string): string {
  try {
    planDockerfile(source)
    return ''
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}

/** Runs the real script in its fast mode, as CI and developers do. */
function runPlan(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '.ci/dockerfile-check.ts', '--plan', ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '' },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

t.test('the real Dockerfile matches the step table, every instruction in order', async (t) => {
  const result = await runPlan([])
  t.equal(result.code, 0, result.stderr)
  t.equal(result.stderr, '')
  t.match(result.stdout, `dockerfile-check: plan OK, ${STEPS.length} instructions matched; nothing built (--plan)`)
  t.same(
    parseDockerfile(dockerfile).map((ins) => ins.text),
    STEPS.map((step) => step.instruction),
  )
})

t.test('an added instruction fails the plan with a message naming it and its line', async (t) => {
  const dir = t.testdir({ Dockerfile: edited('RUN npm ci\n', 'RUN npm ci\nRUN npm audit fix\n') })
  const result = await runPlan(['--dockerfile', path.join(dir, 'Dockerfile')])
  t.equal(result.code, 1)
  t.equal(
    result.stderr,
    'dockerfile-check: FAILED: the Dockerfile and the step table differ:\n' +
      `  - Dockerfile line ${lineOf(dockerfile, 'RUN npm ci') + 1}: "RUN npm audit fix" has no entry in the step table: add one saying how the check performs it or why it skips it\n`,
  )
  t.notMatch(result.stdout, 'plan OK')
})

t.test('a changed instruction fails naming the new text and the entry it no longer matches', async (t) => {
  t.equal(
    planFailure(edited('EXPOSE 3000', 'EXPOSE 8080')),
    'the Dockerfile and the step table differ:\n' +
      `  - Dockerfile line ${lineOf(dockerfile, 'EXPOSE 3000')}: "EXPOSE 8080" has no entry in the step table: add one saying how the check performs it or why it skips it\n` +
      '  - step table entry "EXPOSE 3000" matches no Dockerfile instruction (was it changed or removed?)',
  )
})

t.test('a change inside a continued instruction is caught like any other change', async (t) => {
  const changed = edited('python3 make g++', 'python3 make g++ curl')
  t.equal(
    planFailure(changed),
    'the Dockerfile and the step table differ:\n' +
      `  - Dockerfile line ${lineOf(dockerfile, 'RUN apt-get update')}: "RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ curl && rm -rf /var/lib/apt/lists/*" has no entry in the step table: add one saying how the check performs it or why it skips it\n` +
      '  - step table entry "RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*" matches no Dockerfile instruction (was it changed or removed?)',
  )
})

t.test('a removed instruction fails naming the entry left without one', async (t) => {
  t.equal(
    planFailure(edited('USER node\n', '')),
    'the Dockerfile and the step table differ:\n' +
      '  - step table entry "USER node" matches no Dockerfile instruction (was it changed or removed?)',
  )
})

t.test('the same instructions in another order fail as out of order', async (t) => {
  const swapped = edited(
    'COPY keys/ ./keys/\nCOPY migrations/ ./migrations/',
    'COPY migrations/ ./migrations/\nCOPY keys/ ./keys/',
  )
  const keysLine = lineOf(dockerfile, 'COPY keys/')
  t.equal(
    planFailure(swapped),
    'the Dockerfile and the step table differ:\n' +
      `  - Dockerfile line ${keysLine}: "COPY migrations/ ./migrations/" is out of order: the step table has "COPY keys/ ./keys/" there\n` +
      `  - Dockerfile line ${keysLine + 1}: "COPY keys/ ./keys/" is out of order: the step table has "COPY migrations/ ./migrations/" there`,
  )
})

t.test('re-indenting or re-wrapping an instruction is not a change', async (t) => {
  const rewrapped = edited(
    'RUN npm prune --omit=dev && rm node_modules/@latchkey/verifier',
    'RUN   npm prune --omit=dev \\\n    && rm node_modules/@latchkey/verifier',
  )
  t.equal(planFailure(rewrapped), '')
})

t.test('continuation lines are joined, and comment or blank lines inside them are dropped', async (t) => {
  const source = [
    '# syntax=docker/dockerfile:1',
    'FROM node:22 AS build',
    'RUN apt-get update \\',
    '# a comment in the middle',
    '',
    ' && apt-get install -y \\  ',
    '    make',
    'env A=1 \\',
    '    B=2',
    'CMD ["latchkey", "serve"]',
    'EXPOSE 3000 \\',
  ].join('\n')
  t.same(parseDockerfile(source), [
    { line: 2, keyword: 'FROM', args: 'node:22 AS build', text: 'FROM node:22 AS build' },
    {
      line: 3,
      keyword: 'RUN',
      args: 'apt-get update  && apt-get install -y     make',
      text: 'RUN apt-get update && apt-get install -y make',
    },
    { line: 8, keyword: 'ENV', args: 'A=1     B=2', text: 'ENV A=1 B=2' },
    { line: 10, keyword: 'CMD', args: '["latchkey", "serve"]', text: 'CMD ["latchkey", "serve"]' },
    { line: 11, keyword: 'EXPOSE', args: '3000', text: 'EXPOSE 3000' },
  ])
})

t.test('an escape directive is refused rather than misread', async (t) => {
  t.throws(() => parseDockerfile('# escape=`\nFROM node:22\n'), {
    message: 'the parser directive "# escape=`" is not understood by this check',
  })
})

// serveImage against a deliberately broken image, to prove each of its checks can fail; the real
// image is served by the full check in .ci/run.
const brokenImage = `#!/usr/bin/env node
const http = require('node:http')
const mode = process.env.IMAGE_MODE
if (mode === 'crash') process.exit(3)
const key = { kty: 'EC', crv: 'P-256', kid: 'k1', alg: 'ES256', x: 'AAAA', y: 'AAAA' }
if (mode === 'private-jwks') key.d = 'AAAA'
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json')
  if (req.url === '/healthz') res.end('{"status":"ok"}')
  else if (req.url === '/.well-known/jwks.json') res.end(JSON.stringify({ keys: [key] }))
  else res.writeHead(404).end('{}')
})
server.listen(Number(process.env.PORT), process.env.HOST)
process.on('SIGTERM', () => server.close(() => process.exit(mode === 'dirty-exit' ? 1 : 0)))
`

function serveBrokenImage(t: Test, mode: string) {
  const root = t.testdir({ app: { 'server.cjs': brokenImage }, usr: { local: { bin: {} } } })
  fs.chmodSync(path.join(root, 'app/server.cjs'), 0o755)
  fs.symlinkSync('../../../app/server.cjs', path.join(root, 'usr/local/bin/latchkey'))
  return serveImage({
    root,
    workdir: '/app',
    env: { IMAGE_MODE: mode },
    cmd: ['latchkey', 'serve'],
    healthcheck: [
      'node',
      '-e',
      "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))",
    ],
    runAs: [],
  })
}

t.test('serving an image that behaves passes every check', async (t) => {
  const checked = await serveBrokenImage(t, 'healthy')
  t.equal(checked.length, 3)
  t.match(checked[0], /^HEALTHCHECK passed after/)
  t.equal(checked[1], 'GET /healthz {"status":"ok"}; the JWKS has 1 public key(s): ES256')
  t.match(checked[2], /^SIGTERM -> exit 0 after/)
})

t.test('serving fails when the JWKS carries a private member', async (t) => {
  await t.rejects(serveBrokenImage(t, 'private-jwks'), {
    message: /^the JWKS publishes private members d \(kid k1\)/,
  })
})

t.test('serving fails when the server does not exit 0 on SIGTERM', async (t) => {
  await t.rejects(serveBrokenImage(t, 'dirty-exit'), {
    message: /^the server exited with 1 after SIGTERM, not 0/,
  })
})

t.test('serving fails when the server exits before its HEALTHCHECK passes', async (t) => {
  await t.rejects(serveBrokenImage(t, 'crash'), {
    message: /^the server exited \(3\) before its HEALTHCHECK passed/,
  })
})
