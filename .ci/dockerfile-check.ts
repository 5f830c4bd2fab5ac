// Performs the Dockerfile without a Docker engine (neither this machine nor CI has one), so the
// image recipe cannot rot unnoticed. Every instruction must match, literally and in order, an
// entry of the step table in .ci/dockerfile/step-table.ts that says how it is performed or why it
// is skipped: a new or changed instruction fails the check by name.
//
// The build runs on a clean `git archive` of HEAD (less .dockerignore), each stage in a fresh
// directory standing in for its filesystem root, with the host's Node standing in for the image's.
// Then the runtime stage is served: `latchkey serve` as a non-root user, HEALTHCHECK, /healthz,
// the public JWKS, SIGTERM, exit 0.
//
//   node --import tsx .ci/dockerfile-check.ts           the whole check (npm ci compiles: minutes)
//   node --import tsx .ci/dockerfile-check.ts --plan    parse and match only; builds nothing
//   options: --dockerfile PATH (with --plan), --keep (keep the build directories)
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { DockerfileError, parseDockerfile, type Instruction } from './dockerfile/parse-dockerfile.js'
import { serveImage } from './dockerfile/serve-image.js'
import { STEPS, matchSteps, type Action } from './dockerfile/step-table.js'

const repoRoot = path.resolve(import.meta.dirname, '..')
/** nobody: stands in for the image's non-root USER when the check runs as root. */
const RUNTIME_UID = 65534

interface Stage {
  root: string
  workdir: string
  env: Record<string, string>
}

interface Build {
  context: string
  work: string
  stages: Map<string, Stage>
  current: Stage | null
  cmd: string[] | null
  healthcheck: string[] | null
}

const fail = (message: string): never => {
  throw new DockerfileError(message)
}
const inStage = (stage: Stage, imagePath: string) => path.join(stage.root, path.posix.resolve(stage.workdir, imagePath))
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** The Dockerfile's instructions, each with its step; throws naming every mismatch. */
export function planDockerfile(source: string) {
  const instructions = parseDockerfile(source)
  const problems = matchSteps(instructions, STEPS)
  if (problems.length > 0) fail(`the Dockerfile and the step table differ:\n  - ${problems.join('\n  - ')}`)
  return instructions.map((ins, i) => ({ ins, step: STEPS[i]! }))
}

/** Plain words only: quoting and variables are Docker features this check does not interpret. */
function plainWords(ins: Instruction): string[] {
  if (/["'$\\]/.test(ins.args)) fail(`Dockerfile line ${ins.line}: quotes and variables are not interpreted here`)
  return ins.args.split(/\s+/).filter(Boolean)
}

function execForm(json: string, ins: Instruction): string[] {
  const argv: unknown = JSON.parse(json)
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string'))
    fail(`Dockerfile line ${ins.line}: expected the exec (JSON array) form`)
  return argv as string[]
}

/** The clean build context: HEAD as `git archive` gives it, less what .dockerignore excludes. */
function makeContext(work: string): string {
  const git = (args: string[]) => {
    const result = spawnSync('git', args, { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 << 20 })
    if (result.status !== 0) fail(`git ${args.join(' ')} failed: ${result.stderr}`)
    return result.stdout
  }
  // Docker's patterns are anchored at the context root and `*` stays within a path segment, as
  // in git's glob pathspecs; `!` exceptions have no pathspec form, so they are refused.
  const excludes = git(['show', 'HEAD:.dockerignore'])
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      if (line.startsWith('!')) fail(`.dockerignore: the exception "${line}" is not interpreted by this check`)
      return `:(exclude,glob)${line.replace(/^\.?\/+/, '').replace(/\/+$/, '')}`
    })
  const context = path.join(work, 'context')
  fs.mkdirSync(context)
  const tar = path.join(work, 'context.tar')
  git(['archive', '--format=tar', '-o', tar, 'HEAD', '--', '.', ...excludes])
  const untar = spawnSync('tar', ['-x', '-f', tar, '-C', context])
  if (untar.status !== 0) fail(`tar failed: ${untar.stderr.toString()}`)
  return context
}

/** The host environment for RUN lines, less what `npm run` or the caller would add. */
function runEnv(stage: Stage): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (['NODE_ENV', 'NODE_OPTIONS', 'INIT_CWD'].includes(key)) continue
    if (/^npm_/i.test(key) && !/^npm_config_/i.test(key)) continue
    env[key] = value
  }
  return { ...env, ...stage.env }
}

function runShell(
  command: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    child.on('close', (code) => resolve({ code, output }))
  })
}

function copyAsWritten(build: Build, stage: Stage, ins: Instruction) {
  const words = plainWords(ins)
  const fromFlag = words[0]?.startsWith('--') ? words.shift() : undefined
  const fromName = fromFlag?.match(/^--from=(\S+)$/)?.[1]
  if (fromFlag && !fromName) fail(`Dockerfile line ${ins.line}: only the --from option is interpreted`)
  const from = fromName ? build.stages.get(fromName) : undefined
  if (fromName && !from) fail(`Dockerfile line ${ins.line}: --from=${fromName} is not an earlier stage`)
  const dest = words.pop()
  if (!dest || words.length === 0) fail(`Dockerfile line ${ins.line}: expected COPY src… dest`)
  for (const source of words) {
    const file = from ? path.join(from.root, path.posix.resolve('/', source)) : path.join(build.context, source)
    if (!fs.existsSync(file))
      fail(`Dockerfile line ${ins.line}: ${source} is not in ${fromName ? `stage ${fromName}` : 'the build context'}`)
    // A directory's contents go into dest; a file goes into dest/ or becomes dest.
    const target = fs.statSync(file).isDirectory()
      ? inStage(stage, dest!)
      : dest!.endsWith('/')
        ? path.join(inStage(stage, dest!), path.basename(file))
        : inStage(stage, dest!)
    fs.mkdirSync(path.dirname(target), { recursive: true })
    fs.cpSync(file, target, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true })
  }
}

async function perform(build: Build, ins: Instruction, action: Action, runtimeUid: number | null) {
  if (action.kind === 'stage') {
    const root = path.join(build.work, action.name)
    fs.mkdirSync(root, { mode: 0o755 })
    build.current = { root, workdir: '/', env: {} }
    build.stages.set(action.name, build.current)
    return
  }
  const stage = build.current ?? fail(`Dockerfile line ${ins.line}: an instruction before the first FROM`)
  switch (action.kind) {
    case 'require-tools':
      for (const tool of action.tools)
        if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0)
          fail(`Dockerfile line ${ins.line} installs ${tool}, and the host has none to stand in for it`)
      return
    case 'workdir-as-written': {
      const [dir, ...extra] = plainWords(ins)
      if (!dir || extra.length > 0) fail(`Dockerfile line ${ins.line}: expected one directory`)
      stage.workdir = path.posix.resolve(stage.workdir, dir!)
      fs.mkdirSync(inStage(stage, '.'), { recursive: true })
      return
    }
    case 'env-as-written':
      for (const pair of plainWords(ins)) {
        const [key, value] = pair.split(/=(.*)/s)
        if (!key || value === undefined) fail(`Dockerfile line ${ins.line}: expected ENV key=value…`)
        stage.env[key!] = value!
      }
      return
    case 'copy-as-written':
      return copyAsWritten(build, stage, ins)
    case 'run-as-written': {
      if (ins.args.startsWith('[')) fail(`Dockerfile line ${ins.line}: only the shell form of RUN is interpreted`)
      const started = Date.now()
      const { code, output } = await runShell(ins.args, inStage(stage, '.'), runEnv(stage))
      if (code !== 0)
        fail(
          `Dockerfile line ${ins.line}: "${ins.text}" exited ${code}:\n${output.trimEnd().split('\n').slice(-40).join('\n')}`,
        )
      console.log(`    done in ${seconds(Date.now() - started)}`)
      return
    }
    case 'symlink': {
      const target = inStage(stage, action.target)
      if (!fs.existsSync(target)) fail(`Dockerfile line ${ins.line}: the link target ${action.target} does not exist`)
      const link = inStage(stage, action.link)
      fs.mkdirSync(path.dirname(link), { recursive: true })
      fs.symlinkSync(path.relative(path.dirname(link), target), link)
      return
    }
    case 'data-dir': {
      const dir = inStage(stage, action.dir)
      fs.mkdirSync(dir, { recursive: true })
      if (runtimeUid !== null) fs.chownSync(dir, runtimeUid, runtimeUid)
      return
    }
    case 'healthcheck-as-written':
      build.healthcheck = execForm(ins.args.replace(/^(--\S+\s+)*CMD\s+/, ''), ins)
      return
    case 'cmd-as-written':
      build.cmd = execForm(ins.args, ins)
      return
  }
}

/** The lockfile's dev-only packages must not reach the runtime stage (`npm prune --omit=dev`). */
function assertNoDevPackages(build: Build, runtime: Stage) {
  const buildStage = build.stages.get('build') ?? fail('no build stage')
  const lock = JSON.parse(fs.readFileSync(inStage(buildStage, '/app/package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>
  }
  const dev = Object.entries(lock.packages).filter(([p, meta]) => p.startsWith('node_modules/') && meta.dev)
  const leaked = dev.filter(([p]) => fs.existsSync(inStage(runtime, p)))
  if (leaked.length > 0) fail(`dev-only packages reached the runtime stage: ${leaked.map(([p]) => p).join(', ')}`)
  return dev.length
}

async function main() {
  const { values } = parseArgs({
    options: { plan: { type: 'boolean' }, dockerfile: { type: 'string' }, keep: { type: 'boolean' } },
  })
  const started = Date.now()
  if (values.plan) {
    const file = path.resolve(values.dockerfile ?? path.join(repoRoot, 'Dockerfile'))
    const plan = planDockerfile(fs.readFileSync(file, 'utf8'))
    for (const { ins, step } of plan) console.log(`line ${ins.line}: ${ins.text}\n    -> ${step.how}`)
    console.log(`dockerfile-check: plan OK, ${plan.length} instructions matched; nothing built (--plan)`)
    return
  }
  if (values.dockerfile) fail('--dockerfile goes with --plan: the full check builds the Dockerfile of HEAD')

  const runtimeUid = process.getuid?.() === 0 ? RUNTIME_UID : null
  process.umask(0o022) // as in a docker build, so the runtime user can read what is built
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-dockerfile-check-'))
  fs.chmodSync(work, 0o755)
  try {
    const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).stdout.trim()
    const build: Build = {
      context: makeContext(work),
      work,
      stages: new Map(),
      current: null,
      cmd: null,
      healthcheck: null,
    }
    console.log(`dockerfile-check: building HEAD ${head} from a git archive in ${work}`)
    const plan = planDockerfile(fs.readFileSync(path.join(build.context, 'Dockerfile'), 'utf8'))
    for (const { ins, step } of plan) {
      console.log(`line ${ins.line}: ${ins.text}\n    -> ${step.how}`)
      for (const action of step.actions) await perform(build, ins, action, runtimeUid)
    }
    const runtime = build.current ?? fail('the Dockerfile has no stage')
    const devCount = assertNoDevPackages(build, runtime)
    console.log(`checked: none of the lockfile's ${devCount} dev-only packages is in the runtime stage`)
    const checked = await serveImage({
      root: runtime.root,
      workdir: runtime.workdir,
      env: runtime.env,
      cmd: build.cmd ?? fail('the runtime stage has no CMD'),
      healthcheck: build.healthcheck ?? fail('the runtime stage has no HEALTHCHECK'),
      runAs:
        runtimeUid === null
          ? []
          : ['setpriv', `--reuid=${runtimeUid}`, `--regid=${runtimeUid}`, '--clear-groups', '--'],
    })
    const user = runtimeUid === null ? 'the current user' : `uid ${runtimeUid}`
    for (const line of checked) console.log(`checked (as ${user}): ${line}`)
  } finally {
    if (values.keep) console.log(`dockerfile-check: kept ${work}`)
    else fs.rmSync(work, { recursive: true, force: true })
  }
  console.log(`dockerfile-check: OK in ${seconds(Date.now() - started)}`)
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  main().catch((error: unknown) => {
    console.error(
      `dockerfile-check: FAILED: ${error instanceof DockerfileError ? error.message : error instanceof Error ? error.stack : String(error)}`,
    )
    process.exitCode = 1
  })
}
