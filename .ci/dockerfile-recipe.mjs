#!/usr/bin/env node
// Performs the Dockerfile's recipe without a Docker engine, by reading and interpreting the real
// Dockerfile, so the image recipe cannot rot unnoticed while no CI machine can run `docker build`.
//
// Each stage gets a fresh temp directory standing in for its filesystem root (/app becomes
// <root>/app). COPY takes files from a clean build context (the repo's tracked and untracked,
// non-git-ignored files, filtered by .dockerignore) or from an earlier stage; RUN lines run with
// /bin/sh -c in the mapped WORKDIR with the stage's ENV in effect. The host's Node and OS stand in
// for the base image. RUN lines that change the operating system rather than the project are
// skipped, by the rule in skipReason() below, and every skipped line is printed.
//
// Then, for the final stage: a fresh data dir, the CMD started as a non-root user on a free
// loopback port, the HEALTHCHECK run until it passes, the JWKS fetched, SIGTERM, exit 0.
//
//   node .ci/dockerfile-recipe.mjs            full run (npm ci compiles native modules: minutes)
//   node .ci/dockerfile-recipe.mjs --plan     parse, check and print the plan; build nothing
//   options: --verbose (stream RUN output), --keep (keep the temp dirs)
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

const HEALTH_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 10_000
const RUNTIME_UID = 65534 // nobody: stands in for the image's non-root USER when we are root
const DEFAULT_IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export class RecipeError extends Error {}
const fail = (message) => {
  throw new RecipeError(message)
}

// ---------------------------------------------------------------------------------------------
// Dockerfile parsing

/** Splits a Dockerfile into instructions, joining continuation lines the way Docker does. */
export function parseInstructions(text) {
  const raw = text.split(/\r?\n/)
  let escape = '\\'
  // Parser directives (`# escape=`, `# syntax=`) may only open the file.
  for (const line of raw) {
    const directive = /^#\s*([a-zA-Z]+)\s*=\s*(\S*)\s*$/.exec(line)
    if (!directive) break
    if (directive[1].toLowerCase() === 'escape') escape = directive[2]
  }
  const continuation = new RegExp(`${escape.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}[ \\t]*$`)
  const logical = []
  let current = null
  raw.forEach((line, index) => {
    const trimmed = line.trim()
    // Comment and blank lines are dropped, also in the middle of a continued instruction.
    if (trimmed === '' || trimmed.startsWith('#')) return
    if (current === null) current = { text: '', line: index + 1 }
    if (continuation.test(line)) {
      current.text += line.replace(continuation, '')
    } else {
      current.text += line
      logical.push(current)
      current = null
    }
  })
  if (current !== null) logical.push(current)

  return logical.map(({ text, line }) => {
    const match = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(text)
    if (!match) fail(`Dockerfile line ${line}: cannot parse "${text.trim()}"`)
    const keyword = match[1].toUpperCase()
    const { flags, rest } = splitFlags((match[2] ?? '').trim())
    return { keyword, flags, args: rest, line, text: text.trim().replace(/\s+/g, ' ') }
  })
}

/** Leading `--name=value` options of an instruction. */
function splitFlags(args) {
  const flags = {}
  let rest = args
  for (let m; (m = /^--([a-zA-Z][a-zA-Z-]*)(?:=(\S*))?(?:\s+|$)/.exec(rest));) {
    flags[m[1]] = m[2] ?? 'true'
    rest = rest.slice(m[0].length)
  }
  return { flags, rest }
}

/** The exec (JSON array) form, or null for the shell form. */
export function jsonForm(args) {
  if (!args.trimStart().startsWith('[')) return null
  try {
    const value = JSON.parse(args)
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value
  } catch {
    // Docker treats invalid JSON as the shell form too.
  }
  return null
}

/**
 * Docker's word processing for ENV, ARG, COPY, WORKDIR, USER, VOLUME, EXPOSE: quotes and
 * backslashes are removed and $VAR, ${VAR}, ${VAR:-word}, ${VAR:+word} are expanded from vars.
 */
export function words(text, vars = {}, unresolved = new Set(), split = true) {
  const out = []
  let word = ''
  let inWord = false
  const expand = (i) => {
    if (text[i + 1] === '{') {
      const end = text.indexOf('}', i + 2)
      if (end < 0) fail(`unterminated \${ in "${text}"`)
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([\s\S]*))?$/.exec(text.slice(i + 2, end))
      if (!m) fail(`unsupported substitution in "${text}"`)
      const [, name, op, alt] = m
      const value = vars[name]
      const set = op?.startsWith(':') ? value !== undefined && value !== '' : value !== undefined
      if (op === undefined && value === undefined) unresolved.add(name)
      const result = op?.endsWith('-')
        ? set
          ? value
          : words(alt, vars, unresolved).join(' ')
        : op?.endsWith('+')
          ? set
            ? words(alt, vars, unresolved).join(' ')
            : ''
          : (value ?? '')
      return { value: result, next: end + 1 }
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1))
    if (!m) return { value: '$', next: i + 1 }
    if (vars[m[0]] === undefined) unresolved.add(m[0])
    return { value: vars[m[0]] ?? '', next: i + 1 + m[0].length }
  }
  for (let i = 0; i < text.length;) {
    const c = text[i]
    if (split && /\s/.test(c)) {
      if (inWord) out.push(word)
      word = ''
      inWord = false
      i++
      continue
    }
    inWord = true
    if (c === '\\' && i + 1 < text.length) {
      word += text[i + 1]
      i += 2
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1)
      if (end < 0) fail(`unterminated quote in "${text}"`)
      word += text.slice(i + 1, end)
      i = end + 1
    } else if (c === '"') {
      i++
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1])) {
          word += text[i + 1]
          i += 2
        } else if (text[i] === '$') {
          const { value, next } = expand(i)
          word += value
          i = next
        } else {
          word += text[i++]
        }
      }
      if (i >= text.length) fail(`unterminated quote in "${text}"`)
      i++
    } else if (c === '$') {
      const { value, next } = expand(i)
      word += value
      i = next
    } else {
      word += c
      i++
    }
  }
  if (inWord) out.push(word)
  return out
}

/** `ENV a=b c="d e"` or the legacy `ENV key value with spaces`. */
function keyValues(args, vars, unresolved) {
  const list = words(args, vars, unresolved)
  if (list.length > 0 && !list[0].includes('=')) {
    const legacy = /^(\S+)\s+([\s\S]*)$/.exec(args.trim())
    if (!legacy) fail(`ENV needs a value: "${args}"`)
    return [[legacy[1], words(legacy[2], vars, unresolved, false).join('')]]
  }
  return list.map((item) => {
    const eq = item.indexOf('=')
    if (eq <= 0) fail(`expected key=value, got "${item}"`)
    return [item.slice(0, eq), item.slice(eq + 1)]
  })
}

const OS_TOOLS = new Set([
  'apt-get',
  'apt',
  'aptitude',
  'dpkg',
  'apk',
  'yum',
  'dnf',
  'microdnf',
  'rpm',
  'useradd',
  'userdel',
  'usermod',
  'groupadd',
  'groupdel',
  'groupmod',
  'adduser',
  'addgroup',
  'deluser',
  'delgroup',
  'chown',
  'chgrp',
  'setcap',
  'ldconfig',
  'update-ca-certificates',
  'corepack',
])

/** The commands of a shell line: its &&, ||, ;, | and newline separated parts, as word lists. */
function shellCommands(command) {
  return command
    .split(/&&|\|\||[;|\n]/)
    .map((part) => part.trim().split(/\s+/).filter(Boolean))
    .map((list) => {
      while (
        list.length > 0 &&
        (/^[A-Za-z_][A-Za-z0-9_]*=/.test(list[0]) || ['sudo', 'env', 'exec', 'command', '('].includes(list[0]))
      )
        list.shift()
      return list
    })
    .filter((list) => list.length > 0)
}

/**
 * THE RULE for RUN lines: a line is skipped when it changes the operating system rather than the
 * project, that is when one of its commands is an OS tool (package and user managers, chown...;
 * OS_TOOLS above), or installs into npm's global prefix (`npm link`, `npm install -g`), or when
 * the line names an absolute path at all (it would reach outside the stage's mapped tree; only
 * /dev/null is let through). Every other RUN line is executed. Returns the reason, or null.
 */
export function skipReason(command) {
  for (const [tool, ...rest] of shellCommands(command)) {
    const name = path.posix.basename(tool)
    if (OS_TOOLS.has(name)) return `runs ${name}, an operating-system tool`
    if (
      ['npm', 'pnpm', 'yarn'].includes(name) &&
      (rest[0] === 'link' || rest.includes('-g') || rest.includes('--global'))
    ) {
      return `installs into ${name}'s global prefix`
    }
  }
  const absolute = /(?:^|[\s='"<>])(\/[^\s'";&|()<>]*)/g
  for (const m of command.matchAll(absolute)) {
    if (m[1] !== '/dev/null') return `names the absolute path ${m[1]}, outside the stage's tree`
  }
  return null
}

/** `ln -s TARGET LINK` commands in a (skipped) shell line. */
export function symlinksIn(command) {
  const links = []
  for (const [tool, ...rest] of shellCommands(command)) {
    if (path.posix.basename(tool) !== 'ln') continue
    const options = rest.filter((w) => w.startsWith('-'))
    const operands = rest.filter((w) => !w.startsWith('-'))
    if (options.some((o) => /^-[a-zA-Z]*s/.test(o) || o === '--symbolic') && operands.length === 2) {
      links.push({ target: operands[0], link: operands[1] })
    }
  }
  return links
}

const UNSUPPORTED = {
  ADD: 'ADD is not interpreted; use COPY',
  SHELL: 'SHELL is not interpreted; RUN lines run with /bin/sh -c',
  ONBUILD: 'ONBUILD is not interpreted',
}

/**
 * Interprets the instructions into stages: their steps (WORKDIR, COPY, RUN) in order and the
 * image configuration each ends with (ENV, USER, VOLUME, EXPOSE, HEALTHCHECK, CMD...).
 */
export function planStages(instructions) {
  const globalArgs = {}
  const stages = []
  const notices = []
  let stage = null
  for (const ins of instructions) {
    const where = `Dockerfile line ${ins.line} (${ins.keyword})`
    if (UNSUPPORTED[ins.keyword]) fail(`${where}: ${UNSUPPORTED[ins.keyword]}`)
    if (ins.keyword === 'ARG' && stage === null) {
      for (const [name, value] of argDefinitions(ins.args, globalArgs)) globalArgs[name] = value
      continue
    }
    if (ins.keyword === 'FROM') {
      const [image, as, name, ...extra] = words(ins.args, globalArgs)
      if (!image || (as !== undefined && (as.toUpperCase() !== 'AS' || !name)) || extra.length > 0)
        fail(`${where}: expected FROM image [AS name]`)
      const parent = stages.find((s) => s.name !== null && s.name === image.toLowerCase()) ?? null
      stage = {
        index: stages.length,
        name: name ? name.toLowerCase() : null,
        label: name ? name.toLowerCase() : `stage ${stages.length}`,
        line: ins.line,
        image,
        parent,
        baseImage: parent ? parent.baseImage : image,
        steps: [],
        args: { ...(parent?.args ?? {}) },
        env: { ...(parent?.env ?? {}) },
        workdir: parent?.workdir ?? '/',
        user: parent?.user ?? null,
        volumes: [...(parent?.volumes ?? [])],
        expose: [...(parent?.expose ?? [])],
        healthcheck: parent?.healthcheck ?? null,
        cmd: parent?.cmd ?? null,
        entrypoint: parent?.entrypoint ?? null,
        stopSignal: parent?.stopSignal ?? null,
        unresolved: new Set(),
      }
      stages.push(stage)
      continue
    }
    if (stage === null) fail(`${where}: instruction before the first FROM`)
    const vars = { PATH: DEFAULT_IMAGE_PATH, ...stage.args, ...stage.env }
    const flagsAllowed =
      {
        COPY: ['from', 'chown', 'link'],
        HEALTHCHECK: ['interval', 'timeout', 'start-period', 'start-interval', 'retries'],
      }[ins.keyword] ?? []
    for (const flag of Object.keys(ins.flags)) {
      if (!flagsAllowed.includes(flag)) fail(`${where}: the --${flag} option is not interpreted`)
    }
    switch (ins.keyword) {
      case 'ARG':
        for (const [name, value] of argDefinitions(ins.args, { ...globalArgs, ...vars }))
          stage.args[name] = value ?? globalArgs[name]
        break
      case 'ENV':
        for (const [key, value] of keyValues(ins.args, vars, stage.unresolved)) stage.env[key] = value
        break
      case 'LABEL':
      case 'MAINTAINER':
        break
      case 'WORKDIR': {
        const [dir, ...extra] = words(ins.args, vars, stage.unresolved)
        if (!dir || extra.length > 0) fail(`${where}: expected one directory`)
        stage.workdir = path.posix.resolve(stage.workdir, dir)
        stage.steps.push({ kind: 'workdir', ins, dir: stage.workdir })
        break
      }
      case 'COPY': {
        const list = jsonForm(ins.args) ?? words(ins.args, vars, stage.unresolved)
        if (list.length < 2) fail(`${where}: expected COPY src... dest`)
        if (/<</.test(ins.args)) fail(`${where}: heredocs are not interpreted`)
        let from = null
        if (ins.flags.from !== undefined) {
          const ref = ins.flags.from.toLowerCase()
          from = stages.slice(0, -1).find((s) => s.name === ref || String(s.index) === ref)
          if (!from) fail(`${where}: --from=${ins.flags.from} is not an earlier stage (images are not fetched)`)
        }
        stage.steps.push({
          kind: 'copy',
          ins,
          from,
          sources: list.slice(0, -1),
          dest: list.at(-1),
          workdir: stage.workdir,
          chown: ins.flags.chown ?? null,
        })
        break
      }
      case 'RUN': {
        if (/<<-?\s*["']?[A-Za-z_]/.test(ins.args)) fail(`${where}: heredocs are not interpreted`)
        const argv = jsonForm(ins.args)
        const command = argv ? argv.join(' ') : ins.args
        stage.steps.push({
          kind: 'run',
          ins,
          argv,
          command,
          workdir: stage.workdir,
          user: stage.user,
          env: { ...stage.args, ...stage.env },
          skip: skipReason(command),
        })
        break
      }
      case 'USER': {
        const [user, ...extra] = words(ins.args, vars, stage.unresolved)
        if (!user || extra.length > 0) fail(`${where}: expected USER name[:group]`)
        stage.user = user
        break
      }
      case 'VOLUME':
        stage.volumes.push(
          ...(jsonForm(ins.args) ?? words(ins.args, vars, stage.unresolved)).map((v) => path.posix.resolve('/', v)),
        )
        stage.steps.push({ kind: 'volume', ins })
        break
      case 'EXPOSE':
        stage.expose.push(...words(ins.args, vars, stage.unresolved).map((p) => p.replace(/\/tcp$/i, '')))
        break
      case 'STOPSIGNAL': {
        const [signal] = words(ins.args, vars, stage.unresolved)
        stage.stopSignal = /^\d+$/.test(signal) ? Number(signal) : signal.toUpperCase().replace(/^(?!SIG)/, 'SIG')
        break
      }
      case 'HEALTHCHECK': {
        if (/^NONE$/i.test(ins.args.trim())) {
          stage.healthcheck = null
          break
        }
        const m = /^CMD\s+([\s\S]+)$/i.exec(ins.args.trim())
        if (!m) fail(`${where}: expected HEALTHCHECK [options] CMD ... or NONE`)
        stage.healthcheck = { argv: jsonForm(m[1]) ?? ['/bin/sh', '-c', m[1]], options: ins.flags, line: ins.line }
        break
      }
      case 'CMD':
      case 'ENTRYPOINT': {
        const argv = jsonForm(ins.args) ?? ['/bin/sh', '-c', ins.args]
        if (ins.keyword === 'CMD') stage.cmd = argv
        else {
          stage.entrypoint = argv
          stage.cmd = null // Docker resets an inherited CMD when ENTRYPOINT is set
        }
        break
      }
      default:
        fail(`${where}: unknown instruction ${ins.keyword}`)
    }
  }
  if (stages.length === 0) fail('the Dockerfile has no FROM')
  if (stages.at(-1).name === null) stages.at(-1).label = 'final'
  for (const s of stages) {
    for (const name of s.unresolved)
      notices.push(`${s.label}: \$${name} is not set by the Dockerfile (a base image variable?); it was expanded to ""`)
  }
  return { stages, final: stages.at(-1), notices }
}

function argDefinitions(args, vars) {
  return words(args, vars).map((item) => {
    const eq = item.indexOf('=')
    return eq < 0 ? [item, undefined] : [item.slice(0, eq), item.slice(eq + 1)]
  })
}

/** Stages the final stage needs, through FROM and COPY --from (BuildKit builds only those). */
export function neededStages(plan) {
  const needed = new Set()
  const visit = (s) => {
    if (needed.has(s)) return
    needed.add(s)
    if (s.parent) visit(s.parent)
    for (const step of s.steps) if (step.kind === 'copy' && step.from) visit(step.from)
  }
  visit(plan.final)
  return plan.stages.filter((s) => needed.has(s))
}

const isRootUser = (user) => user === null || /^(root|0)(:.*)?$/.test(user)

/** What the final stage must declare, checked before anything is built. */
export function checkFinalStage(plan) {
  const s = plan.final
  const problems = []
  if (isRootUser(s.user)) problems.push(`the final stage must set a non-root USER (it has ${s.user ?? 'none: root'})`)
  if (!s.healthcheck) problems.push('the final stage has no HEALTHCHECK')
  else if (s.healthcheck.argv.some((w) => /(^|[\s/])(curl|wget)(\s|$)/.test(w)))
    problems.push('the HEALTHCHECK uses curl or wget, which node slim images do not ship')
  if (s.env.HOST !== '0.0.0.0')
    problems.push(
      `ENV HOST must be 0.0.0.0 so the server is reachable from outside the container (it is ${s.env.HOST ?? 'unset'})`,
    )
  const dataDir = s.env.LATCHKEY_DATA_DIR
  if (!dataDir) problems.push('ENV LATCHKEY_DATA_DIR is not set')
  else if (!s.volumes.includes(path.posix.resolve('/', dataDir)))
    problems.push(`LATCHKEY_DATA_DIR ${dataDir} is not a VOLUME (volumes: ${s.volumes.join(', ') || 'none'})`)
  if (!s.volumes.includes('/data')) problems.push('the final stage must declare VOLUME /data')
  if (dataDir) {
    // A volume takes the ownership of the image's directory, so the non-root USER needs it chowned
    // by an instruction before VOLUME (changes after VOLUME are discarded by the classic builder).
    const volumeAt = s.steps.findIndex((st) => st.kind === 'volume')
    const chowned = s.steps
      .slice(0, volumeAt < 0 ? undefined : volumeAt)
      .some(
        (st) =>
          (st.kind === 'run' &&
            shellCommands(st.command).some(
              ([tool, ...rest]) => ['chown', 'install'].includes(tool) && rest.includes(dataDir),
            )) ||
          (st.kind === 'copy' && st.chown && path.posix.resolve(st.workdir, st.dest) === dataDir),
      )
    if (!chowned)
      problems.push(
        `nothing chowns ${dataDir} to the non-root USER before VOLUME, so a new volume would be owned by root`,
      )
  }
  if (!s.env.PORT) problems.push('ENV PORT is not set')
  else if (!s.expose.includes(s.env.PORT))
    problems.push(`EXPOSE does not include PORT ${s.env.PORT} (exposes ${s.expose.join(', ') || 'nothing'})`)
  if (!s.cmd && !s.entrypoint) problems.push('the final stage has neither CMD nor ENTRYPOINT')
  if (problems.length > 0) fail(`the final stage does not meet the image's contract:\n  - ${problems.join('\n  - ')}`)
}

// ---------------------------------------------------------------------------------------------
// .dockerignore and the build context

/** Docker's .dockerignore rules: the last matching pattern wins; a match on a parent excludes. */
export function parseDockerignore(text) {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!')
      const pattern = path.posix
        .normalize((negate ? line.slice(1) : line).trim().replace(/^\/+/, ''))
        .replace(/\/+$/, '')
      return { negate, pattern, regex: globRegex(pattern) }
    })
    .filter((rule) => rule.pattern !== '.' && rule.pattern !== '')
}

function globRegex(pattern) {
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '*' && pattern[i + 1] === '*') {
      if (pattern[i + 2] === '/') {
        re += '(?:.*/)?'
        i += 2
      } else {
        re += '.*'
        i += 1
      }
    } else if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1)
      if (end < 0) re += '\\['
      else {
        re += `[${pattern
          .slice(i + 1, end)
          .replace(/^[!^]/, '^')
          .replace(/\\/g, '\\\\')}]`
        i = end
      }
    } else if (c === '\\' && i + 1 < pattern.length) re += `\\${pattern[++i]}`
    else re += c.replace(/[.+^${}()|\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

export function isIgnored(relPath, rules) {
  const parts = relPath.split('/')
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
  let ignored = false
  for (const rule of rules) {
    if (candidates.some((c) => rule.regex.test(c))) ignored = !rule.negate
  }
  return ignored
}

/** A clean context: tracked plus untracked non-git-ignored files of the working tree, less .dockerignore. */
function buildContext(dest) {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: repoRoot,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  })
  if (listed.status !== 0) fail(`git ls-files failed in ${repoRoot}: ${listed.stderr}`)
  const ignoreFile = path.join(repoRoot, '.dockerignore')
  const rules = fs.existsSync(ignoreFile) ? parseDockerignore(fs.readFileSync(ignoreFile, 'utf8')) : []
  let count = 0
  let excluded = 0
  for (const rel of new Set(listed.stdout.split('\0').filter(Boolean))) {
    const from = path.join(repoRoot, rel)
    if (!fs.existsSync(from) && !isSymlink(from)) continue // deleted in the working tree
    if (isIgnored(rel, rules)) {
      excluded++
      continue
    }
    fs.mkdirSync(path.dirname(path.join(dest, rel)), { recursive: true })
    fs.cpSync(from, path.join(dest, rel), { verbatimSymlinks: true, preserveTimestamps: true })
    count++
  }
  // A real `docker build .` also sends git-ignored files that .dockerignore does not exclude.
  const gitIgnored = spawnSync(
    'git',
    ['ls-files', '-z', '--others', '--ignored', '--exclude-standard', '--directory'],
    { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 << 20 },
  )
  const leaks = gitIgnored.stdout
    .split('\0')
    .filter(Boolean)
    .map((p) => p.replace(/\/$/, ''))
    .filter((p) => !isIgnored(p, rules))
  return { count, excluded, rules: rules.length, leaks }
}

function isSymlink(p) {
  try {
    return fs.lstatSync(p).isSymbolicLink()
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------
// Performing the recipe

const children = new Set()
let workDir = null
let keepWorkDir = false
let verbose = false

function cleanup() {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  children.clear()
  if (workDir && !keepWorkDir) fs.rmSync(workDir, { recursive: true, force: true })
  else if (workDir) console.log(`dockerfile-recipe: kept ${workDir}`)
  workDir = null
}

/** An absolute image path inside a stage's root. */
const inStage = (root, p) => path.join(root, path.posix.resolve('/', p))

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`

function log(stage, message) {
  console.log(`[${stage.label}] ${message}`)
}

/** Runs a child in its own process group; resolves with its exit status and output. */
function run(argv, { cwd, env, timeoutMs = 0, prefix = '    | ', stream = verbose }) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    children.add(child)
    const output = []
    const onData = (chunk) => {
      const text = chunk.toString()
      output.push(text)
      if (stream) process.stdout.write(text.replace(/^(?=.)/gm, prefix))
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    let timedOut = false
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true
            try {
              process.kill(-child.pid, 'SIGKILL')
            } catch {}
          }, timeoutMs)
        : null
    child.on('error', (error) => {
      clearTimeout(timer)
      children.delete(child)
      reject(new RecipeError(`cannot start ${argv[0]}: ${error.message}`))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      children.delete(child)
      resolve({ code, signal, timedOut, output: output.join('') })
    })
  })
}

const tail = (text, lines = 60) =>
  text
    .trimEnd()
    .split('\n')
    .slice(-lines)
    .map((l) => `    | ${l}`)
    .join('\n')

/** The start of a log (where startup problems show) and its end. */
function headAndTail(text, lines = 15) {
  const all = text.trimEnd().split('\n')
  const shown =
    all.length <= 2 * lines
      ? all
      : [...all.slice(0, lines), `... ${all.length - 2 * lines} lines ...`, ...all.slice(-lines)]
  return shown.map((l) => `    | ${l}`).join('\n')
}

/** The host environment for RUN lines, less what a docker build would not have. */
function buildEnv(stageEnv, root) {
  const env = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'NODE_ENV' || key === 'NODE_OPTIONS' || key === 'INIT_CWD') continue
    if (/^npm_/i.test(key) && !/^npm_config_/i.test(key)) continue // npm run's own variables
    env[key] = value
  }
  return { ...env, ...mapEnv(stageEnv, root, env.PATH) }
}

/** Image ENV for the host: absolute paths inside the stage's tree are mapped into it. */
function mapEnv(stageEnv, root, hostPath) {
  const env = {}
  for (const [key, value] of Object.entries(stageEnv)) {
    if (key === 'PATH') {
      const inside = value
        .split(':')
        .filter(
          (dir) =>
            dir.startsWith('/') && fs.existsSync(inStage(root, dir)) && !DEFAULT_IMAGE_PATH.split(':').includes(dir),
        )
      env.PATH = [...inside.map((dir) => inStage(root, dir)), hostPath].join(':')
    } else if (value.startsWith('/') && fs.existsSync(inStage(root, value.split('/')[1]))) {
      env[key] = inStage(root, value)
    } else {
      env[key] = value
    }
  }
  return env
}

function hasNativeAddon(dir) {
  if (!fs.existsSync(dir)) return false
  if (fs.statSync(dir).isFile()) return dir.endsWith('.node')
  return fs.readdirSync(dir, { recursive: true }).some((f) => String(f).endsWith('.node'))
}

async function performCopy(stage, step, contextDir) {
  const sourceRoot = step.from ? step.from.root : contextDir
  const destIsDir = step.dest.endsWith('/') || step.sources.length > 1
  const dest = inStage(stage.root, path.posix.resolve(step.workdir, step.dest))
  let copied = 0
  for (const source of step.sources) {
    if (/[*?[]/.test(path.posix.dirname(source)))
      fail(`line ${step.ins.line}: wildcards are only interpreted in a COPY source's last segment (${source})`)
    const dir = path.join(sourceRoot, path.posix.resolve('/', path.posix.dirname(source)))
    const base = path.posix.basename(source)
    const matches = /[*?[]/.test(base)
      ? fs.existsSync(dir)
        ? fs
            .readdirSync(dir)
            .filter((name) => globRegex(base).test(name))
            .map((name) => path.join(dir, name))
        : []
      : [path.join(sourceRoot, path.posix.resolve('/', source))]
    const found = matches.filter((m) => fs.existsSync(m) || isSymlink(m))
    if (found.length === 0) {
      fail(
        `line ${step.ins.line}: COPY source ${source} does not exist in ${step.from ? `stage ${step.from.label}` : 'the build context (git-tracked or untracked files, less .dockerignore)'}`,
      )
    }
    if (found.length > 1 && !destIsDir)
      fail(`line ${step.ins.line}: COPY of several files needs a destination ending in /`)
    for (const file of found) {
      if (step.from && step.from.baseImage !== stage.baseImage && hasNativeAddon(file)) {
        fail(
          `line ${step.ins.line}: ${source} holds native addons built on ${step.from.baseImage} but runs on ${stage.baseImage}: build them for the runtime's Node`,
        )
      }
      const isDir = fs.lstatSync(file).isDirectory()
      const target = isDir
        ? dest
        : destIsDir || (fs.existsSync(dest) && fs.statSync(dest).isDirectory())
          ? path.join(dest, path.basename(file))
          : dest
      fs.mkdirSync(isDir ? target : path.dirname(target), { recursive: true })
      fs.cpSync(file, target, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true })
      copied += isDir ? fs.readdirSync(file, { recursive: true }).length : 1
    }
  }
  return copied
}

async function buildStage(stage, contextDir, summary) {
  stage.root = fs.mkdtempSync(path.join(workDir, `${stage.label.replace(/\W+/g, '-')}-`))
  fs.chmodSync(stage.root, 0o755)
  stage.links = []
  if (stage.parent)
    fs.cpSync(stage.parent.root, stage.root, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true })
  log(
    stage,
    `FROM ${stage.image}${stage.name ? ` AS ${stage.name}` : ''} (line ${stage.line}): ${stage.parent ? `continues stage ${stage.parent.label}` : `base image not pulled; the host (Node ${process.version}) stands in for it`}`,
  )
  for (const step of stage.steps) {
    const started = Date.now()
    if (step.kind === 'workdir') {
      fs.mkdirSync(inStage(stage.root, step.dir), { recursive: true })
      log(stage, `WORKDIR ${step.dir}`)
    } else if (step.kind === 'copy') {
      if (step.chown)
        summary.notes.push(
          `line ${step.ins.line}: COPY --chown=${step.chown} not applied (files keep the recipe's owner)`,
        )
      const count = await performCopy(stage, step, contextDir)
      log(stage, `${step.ins.text} (${count} ${count === 1 ? 'entry' : 'entries'})`)
    } else if (step.kind === 'run' && step.skip) {
      log(stage, `SKIPPED RUN (line ${step.ins.line}), ${step.skip}: ${step.command.replace(/\s+/g, ' ')}`)
      summary.skipped.push(`${stage.label}, line ${step.ins.line}: ${step.command.replace(/\s+/g, ' ')}`)
      // What a skipped line links to must still exist in the stage.
      for (const { target, link } of symlinksIn(step.command)) {
        const resolvedTarget = path.posix.resolve(step.workdir, target)
        if (!fs.existsSync(inStage(stage.root, resolvedTarget)))
          fail(`line ${step.ins.line}: ln -s target ${resolvedTarget} does not exist in stage ${stage.label}`)
        stage.links.push({ target: resolvedTarget, link: path.posix.resolve(step.workdir, link), line: step.ins.line })
        log(stage, `  checked: the link target ${resolvedTarget} exists`)
      }
    } else if (step.kind === 'run') {
      if (!isRootUser(step.user))
        summary.notes.push(`line ${step.ins.line}: RUN ran as the recipe's user, not USER ${step.user}`)
      const cwd = inStage(stage.root, step.workdir)
      fs.mkdirSync(cwd, { recursive: true })
      log(stage, `RUN ${step.command} ...`)
      const result = await run(step.argv ?? ['/bin/sh', '-c', step.command], {
        cwd,
        env: buildEnv(step.env, stage.root),
      })
      if (result.code !== 0)
        fail(
          `line ${step.ins.line}: RUN ${step.command} exited ${result.code ?? result.signal}:\n${tail(result.output)}`,
        )
      log(stage, `  done in ${seconds(Date.now() - started)}`)
      summary.runs.push(`${step.command} (${seconds(Date.now() - started)})`)
    }
  }
}

/** The host program for the first word of CMD/ENTRYPOINT, looked for where the image would have it. */
function resolveProgram(stage, name) {
  if (name.includes('/'))
    return { file: inStage(stage.root, path.posix.resolve(stage.workdir, name)), how: 'a path in the stage' }
  const imagePath = (stage.env.PATH ?? DEFAULT_IMAGE_PATH).split(':')
  const viaLink = stage.links.find(
    (l) => path.posix.basename(l.link) === name && imagePath.includes(path.posix.dirname(l.link)),
  )
  const inPathDir = imagePath
    .map((dir) => inStage(stage.root, path.posix.join(dir, name)))
    .find((f) => fs.existsSync(f))
  let viaBin = null
  const pkgFile = inStage(stage.root, path.posix.join(stage.workdir, 'package.json'))
  if (fs.existsSync(pkgFile)) {
    const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'))
    const bin = typeof pkg.bin === 'string' ? { [pkg.name]: pkg.bin } : (pkg.bin ?? {})
    if (bin[name]) viaBin = path.posix.resolve(stage.workdir, bin[name])
  }
  if (viaLink && viaBin && viaLink.target !== viaBin)
    fail(`the ${name} symlink (line ${viaLink.line}) points at ${viaLink.target}, but package.json's bin is ${viaBin}`)
  if (viaLink)
    return {
      file: inStage(stage.root, viaLink.target),
      how: `symlink ${viaLink.link} -> ${viaLink.target} (line ${viaLink.line})${viaBin ? ", same as package.json's bin" : ''}`,
    }
  if (inPathDir) return { file: inPathDir, how: 'a file on the image PATH' }
  if (viaBin) return { file: inStage(stage.root, viaBin), how: `package.json bin ${viaBin}` }
  return { file: null, how: 'the host PATH' }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Runs argv as the non-root stand-in when we are root. */
function asRuntimeUser(argv) {
  if (process.getuid?.() !== 0) return argv
  const setpriv = spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0
  if (setpriv) return ['setpriv', `--reuid=${RUNTIME_UID}`, `--regid=${RUNTIME_UID}`, '--clear-groups', '--', ...argv]
  if (spawnSync('runuser', ['--help'], { stdio: 'ignore' }).status === 0)
    return ['runuser', '-u', 'nobody', '--', ...argv]
  fail('running as root, but neither setpriv nor runuser is there to drop to a non-root user')
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function parseDuration(text, fallbackMs) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text ?? '')
  return m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2]] : fallbackMs
}

async function exerciseFinalStage(stage, summary) {
  const root = stage.root
  const runtimeLabel =
    process.getuid?.() === 0
      ? `uid ${RUNTIME_UID} (standing in for USER ${stage.user})`
      : `the current user (standing in for USER ${stage.user})`

  // Production only: nothing the lockfile marks as dev-only may be in the final node_modules.
  const lockFile = inStage(stage.root, path.posix.join(stage.workdir, 'package-lock.json'))
  const lock = JSON.parse(
    fs.readFileSync(fs.existsSync(lockFile) ? lockFile : path.join(repoRoot, 'package-lock.json'), 'utf8'),
  )
  const devOnly = Object.entries(lock.packages ?? {})
    .filter(([p, meta]) => p.startsWith('node_modules/') && meta.dev === true)
    .map(([p]) => p)
  const leaked = devOnly.filter((p) => fs.existsSync(inStage(root, path.posix.join(stage.workdir, p))))
  if (leaked.length > 0)
    fail(`the final stage has dev-only packages: ${leaked.slice(0, 10).join(', ')}${leaked.length > 10 ? ', ...' : ''}`)
  const finalModules = inStage(root, path.posix.join(stage.workdir, 'node_modules'))
  if (!fs.existsSync(finalModules)) fail(`the final stage has no ${path.posix.join(stage.workdir, 'node_modules')}`)
  log(stage, `checked: none of the ${devOnly.length} dev-only packages of the lockfile is installed`)

  // The image's ENV, with the data dir fresh and empty and the port a free loopback one.
  const dataDir = inStage(root, stage.env.LATCHKEY_DATA_DIR)
  fs.rmSync(dataDir, { recursive: true, force: true })
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o755 })
  if (process.getuid?.() === 0) fs.chownSync(dataDir, RUNTIME_UID, RUNTIME_UID) // the skipped `chown` of the data dir
  for (let dir = root; dir !== path.dirname(dir) && dir.startsWith(workDir); dir = path.dirname(dir))
    fs.chmodSync(dir, 0o755)

  // Native addons in the final node_modules must load there, as the runtime user.
  const topLevel = fs
    .readdirSync(finalModules)
    .filter((n) => !n.startsWith('.'))
    .flatMap((n) => (n.startsWith('@') ? fs.readdirSync(path.join(finalModules, n)).map((m) => `${n}/${m}`) : [n]))
  const native = topLevel.filter((n) =>
    fs
      .readdirSync(path.join(finalModules, n), { recursive: true })
      .some((f) => String(f).endsWith('.node') && !String(f).includes('node_modules')),
  )
  const cwd = inStage(root, stage.workdir)
  const port = await freePort()
  const env = {
    PATH: process.env.PATH,
    ...mapEnv(stage.env, root, process.env.PATH),
    PORT: String(port),
    HOST: '127.0.0.1',
  }
  for (const name of native) {
    const probe = await run(
      asRuntimeUser([process.execPath, '--input-type=module', '-e', `await import(${JSON.stringify(name)})`]),
      { cwd, env, timeoutMs: 30_000, stream: false },
    )
    if (probe.code !== 0) fail(`the native module ${name} does not load in the final stage:\n${tail(probe.output)}`)
  }
  log(stage, `checked: native modules load as ${runtimeLabel}: ${native.join(', ') || 'none found'}`)

  // Start the CMD the way `docker run` would.
  const argv = [...(stage.entrypoint ?? []), ...(stage.cmd ?? [])]
  const program = resolveProgram(stage, argv[0])
  const command = program.file ? [program.file, ...argv.slice(1)] : argv
  if (program.file) {
    const stat = fs.statSync(program.file)
    if ((stat.mode & 0o111) === 0) fail(`${argv[0]} (${program.how}) is not executable`)
  }
  log(stage, `${argv.join(' ')}: ${argv[0]} resolved via ${program.how}`)
  log(stage, `starting it as ${runtimeLabel} on 127.0.0.1:${port}, LATCHKEY_DATA_DIR=${env.LATCHKEY_DATA_DIR}`)
  const started = Date.now()
  const server = spawn(asRuntimeUser(command)[0], asRuntimeUser(command).slice(1), {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  children.add(server)
  let serverLog = ''
  let exited = null
  const exitPromise = new Promise((resolve) => {
    server.on('exit', (code, signal) => {
      exited = { code, signal }
      resolve(exited)
    })
    server.on('error', (error) => {
      exited = { code: null, signal: null, error }
      resolve(exited)
    })
  })
  for (const out of [server.stdout, server.stderr]) {
    out.on('data', (chunk) => {
      serverLog += chunk
      if (verbose) process.stdout.write(String(chunk).replace(/^(?=.)/gm, '    server | '))
    })
  }
  const failWithLog = (message) => fail(`${message}\n  server output:\n${headAndTail(serverLog)}`)

  // The HEALTHCHECK, as the image defines it, until it passes.
  const health = stage.healthcheck
  const imagePort = stage.env.PORT
  const healthArgv = health.argv.map((w) => w.replaceAll(`:${imagePort}/`, `:${port}/`))
  if (healthArgv.some((w, i) => w !== health.argv[i]))
    summary.notes.push(`the HEALTHCHECK's literal port ${imagePort} was replaced by ${port}`)
  const attemptTimeout = parseDuration(health.options.timeout, 30_000)
  let attempts = 0
  for (;;) {
    if (exited)
      failWithLog(
        `the server exited (${exited.error?.message ?? exited.code ?? exited.signal}) before its HEALTHCHECK passed`,
      )
    attempts++
    const check = await run(asRuntimeUser(healthArgv), { cwd, env, timeoutMs: attemptTimeout, stream: false })
    if (check.code === 0) break
    if (Date.now() - started > HEALTH_TIMEOUT_MS)
      failWithLog(
        `the HEALTHCHECK did not pass within ${seconds(HEALTH_TIMEOUT_MS)} (${attempts} attempts; last exit ${check.timedOut ? 'timeout' : (check.code ?? check.signal)}${check.output ? `: ${check.output.trim()}` : ''})`,
      )
    await sleep(500)
  }
  log(
    stage,
    `checked: HEALTHCHECK (line ${health.line}) passed after ${seconds(Date.now() - started)} (${attempts} attempt${attempts > 1 ? 's' : ''})`,
  )

  const base = `http://127.0.0.1:${port}`
  const healthz = await fetch(`${base}/healthz`)
  const healthBody = await healthz.json().catch(() => null)
  if (healthz.status !== 200 || healthBody?.status !== 'ok')
    failWithLog(`GET /healthz answered ${healthz.status} ${JSON.stringify(healthBody)}`)
  const jwksResponse = await fetch(`${base}/.well-known/jwks.json`)
  const jwks = await jwksResponse.json().catch(() => null)
  if (jwksResponse.status !== 200 || !Array.isArray(jwks?.keys) || jwks.keys.length === 0)
    failWithLog(`GET /.well-known/jwks.json answered ${jwksResponse.status} without keys: ${JSON.stringify(jwks)}`)
  for (const key of jwks.keys) {
    if (!key.kid || !key.kty) failWithLog(`a JWKS key lacks kid or kty: ${JSON.stringify(key)}`)
    if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in key))
      failWithLog(`the JWKS publishes private key material (kid ${key.kid})`)
  }
  log(
    stage,
    `checked: GET /healthz {"status":"ok"}; GET /.well-known/jwks.json has ${jwks.keys.length} public key${jwks.keys.length > 1 ? 's' : ''} (${jwks.keys.map((k) => k.alg ?? k.kty).join(', ')})`,
  )
  const created = fs.readdirSync(dataDir)
  if (created.length === 0) failWithLog(`the server wrote nothing into its data dir ${stage.env.LATCHKEY_DATA_DIR}`)

  // `docker stop`: the STOPSIGNAL (SIGTERM by default), then a clean exit within the grace period.
  const signal = stage.stopSignal ?? 'SIGTERM'
  const stopAt = Date.now()
  process.kill(server.pid, signal)
  const result = await Promise.race([exitPromise, sleep(STOP_TIMEOUT_MS).then(() => null)])
  if (!result) failWithLog(`the server did not exit within ${seconds(STOP_TIMEOUT_MS)} of ${signal}`)
  children.delete(server)
  if (result.code !== 0) failWithLog(`the server exited with ${result.code ?? result.signal} after ${signal}, not 0`)
  log(stage, `checked: ${signal} -> exit 0 after ${seconds(Date.now() - stopAt)}; data dir holds ${created.join(', ')}`)
  summary.final = { port, attempts, dataFiles: created, keys: jwks.keys.length, native }
}

async function main() {
  const args = process.argv.slice(2)
  const planOnly = args.includes('--plan')
  keepWorkDir = args.includes('--keep')
  verbose = args.includes('--verbose')
  const unknown = args.filter((a) => !['--plan', '--keep', '--verbose'].includes(a))
  if (unknown.length > 0) fail(`unknown option ${unknown.join(' ')} (options: --plan, --keep, --verbose)`)

  const startedAt = Date.now()
  const dockerfile = path.join(repoRoot, 'Dockerfile')
  if (!fs.existsSync(dockerfile)) fail(`no Dockerfile at ${dockerfile}`)
  const plan = planStages(parseInstructions(fs.readFileSync(dockerfile, 'utf8')))
  const stages = neededStages(plan)
  checkFinalStage(plan)
  const skipped = stages.flatMap((s) => s.steps.filter((st) => st.kind === 'run' && st.skip).map((st) => ({ s, st })))
  console.log(
    `dockerfile-recipe: Dockerfile has ${plan.stages.length} stage(s); building ${stages.map((s) => s.label).join(' -> ')}; final stage: USER ${plan.final.user}, VOLUME ${plan.final.volumes.join(' ')}, EXPOSE ${plan.final.expose.join(' ')}, CMD ${JSON.stringify([...(plan.final.entrypoint ?? []), ...(plan.final.cmd ?? [])])}`,
  )
  for (const s of plan.stages.filter((s) => !stages.includes(s)))
    console.log(`  stage ${s.label} is not needed by the final stage and is not built`)
  for (const notice of plan.notices) console.log(`  note: ${notice}`)
  if (planOnly) {
    for (const s of stages) {
      console.log(`[${s.label}] FROM ${s.image}`)
      for (const st of s.steps) {
        if (st.kind === 'run')
          console.log(`[${s.label}]   ${st.skip ? `SKIP RUN (${st.skip})` : 'RUN'}: ${st.command.replace(/\s+/g, ' ')}`)
        else console.log(`[${s.label}]   ${st.ins.text}`)
      }
    }
    console.log(`dockerfile-recipe: plan OK (${skipped.length} RUN line(s) would be skipped); nothing built (--plan)`)
    return
  }

  const summary = { skipped: [], runs: [], notes: [], final: null }
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-dockerfile-recipe-'))
  fs.chmodSync(workDir, 0o755)
  process.umask(0o022) // as in a docker build, so the non-root stand-in can read what is built
  const contextDir = path.join(workDir, 'context')
  fs.mkdirSync(contextDir)
  const context = buildContext(contextDir)
  console.log(
    `build context: ${context.count} files (${context.excluded} excluded by ${context.rules} .dockerignore rules)`,
  )
  if (context.leaks.length > 0)
    summary.notes.push(
      `git-ignored paths a real docker build would also send (not excluded by .dockerignore): ${context.leaks.join(', ')}`,
    )

  for (const s of stages) await buildStage(s, contextDir, summary)
  await exerciseFinalStage(plan.final, summary)

  console.log('\ndockerfile-recipe: OK')
  console.log(`  stages built: ${stages.map((s) => s.label).join(', ')}`)
  console.log(`  RUN lines executed: ${summary.runs.length}`)
  for (const r of summary.runs) console.log(`    - ${r}`)
  console.log(`  RUN lines skipped (not exercised): ${summary.skipped.length}`)
  for (const s of summary.skipped) console.log(`    - ${s}`)
  console.log(
    `  not exercised: the base image ${plan.final.baseImage} (host Node ${process.version} and OS used instead), the build tools it installs, file ownership inside the image, the HEALTHCHECK schedule`,
  )
  for (const n of summary.notes) console.log(`  note: ${n}`)
  console.log(
    `  final stage: started as non-root, HEALTHCHECK passed (${summary.final.attempts} attempt(s)), JWKS served ${summary.final.keys} key(s), exited 0 on ${plan.final.stopSignal ?? 'SIGTERM'}`,
  )
  console.log(`  time: ${seconds(Date.now() - startedAt)}`)
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      console.error(`dockerfile-recipe: interrupted by ${signal}`)
      cleanup()
      process.exit(128 + os.constants.signals[signal])
    })
  }
  process.on('exit', cleanup)
  main().then(
    () => cleanup(),
    (error) => {
      console.error(
        `\ndockerfile-recipe: FAILED: ${error instanceof RecipeError ? error.message : (error?.stack ?? error)}`,
      )
      cleanup()
      process.exitCode = 1
    },
  )
}
