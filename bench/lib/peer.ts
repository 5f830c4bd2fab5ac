// The peers of bench/peers/ (issue 15): other products benchmarked beside Latchkey, each a folder
// with its own package.json and package-lock.json, never in the product's dependencies (the root
// `npm ci`, CI and lint never install them). A bench installs a peer on demand with `npm ci` in its
// folder, once: it is reused while what is installed matches the lockfile and its native modules
// load. A peer that cannot be installed (no registry, no compiler) is skipped with the reason.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { benchDir } from './paths.js'

export type PeerName = 'better-auth'

export interface Peer {
  name: PeerName
  dir: string
  /** Version of each of the peer's direct dependencies, as installed. */
  versions: Record<string, string>
}

export type PeerInstall = { installed: true; peer: Peer } | { installed: false; reason: string }

/** What each peer's native modules need to load, checked before it is taken as installed. */
const loadCheck: Record<PeerName, string> = {
  'better-auth': "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()",
}

/** A better-sqlite3 build from source takes minutes on 2 cores; an offline registry fails sooner. */
const installTimeoutMs = 20 * 60_000

function peerDir(name: PeerName): string {
  return path.join(benchDir, 'peers', name)
}

interface Lockfile {
  packages?: Record<string, { version?: string }>
}

async function readLockfile(file: string): Promise<Lockfile | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Lockfile
  } catch {
    return null
  }
}

/** True when node_modules holds exactly the lockfile's packages (npm's hidden lockfile says so). */
async function matchesLockfile(dir: string): Promise<boolean> {
  const wanted = await readLockfile(path.join(dir, 'package-lock.json'))
  const installed = await readLockfile(path.join(dir, 'node_modules', '.package-lock.json'))
  if (!wanted?.packages || !installed?.packages) return false
  const entries = Object.entries(wanted.packages).filter(([key]) => key !== '')
  return entries.every(([key, { version }]) => installed.packages![key]?.version === version)
}

interface Ran {
  /** What went wrong, in a few words; null when the command exited 0. */
  failure: string | null
  /** The last 4,000 characters of its stdout and stderr together. */
  output: string
}

/** Runs a command in `dir` to its end, killed after `timeoutMs`. */
function run(command: string, args: string[], dir: string, timeoutMs: number) {
  return new Promise<Ran>((resolve) => {
    let output = ''
    const keep = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-4_000))
    const child = spawn(command, args, { cwd: dir, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.once('error', (error) => {
      clearTimeout(timer)
      resolve({ failure: `\`${command}\` could not be started (${error.message})`, output })
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      const failure = timedOut
        ? `\`${command} ${args.join(' ')}\` was killed after ${timeoutMs / 1000} s`
        : code === 0
          ? null
          : `\`${command} ${args.join(' ')}\` exited with code ${code}`
      resolve({ failure, output })
    })
  })
}

async function loads(name: PeerName, dir: string): Promise<boolean> {
  return (await run(process.execPath, ['-e', loadCheck[name]], dir, 60_000)).failure === null
}

async function directVersions(dir: string): Promise<Record<string, string>> {
  const manifest = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>
  }
  const versions: Record<string, string> = {}
  for (const dependency of Object.keys(manifest.dependencies ?? {})) {
    const installed = JSON.parse(
      await readFile(path.join(dir, 'node_modules', dependency, 'package.json'), 'utf8'),
    ) as { version: string }
    versions[dependency] = installed.version
  }
  return versions
}

/** The peer when it is installed as its lockfile says and its native modules load; null otherwise. */
export async function installedPeer(name: PeerName): Promise<Peer | null> {
  const dir = peerDir(name)
  if (!((await matchesLockfile(dir)) && (await loads(name, dir)))) return null
  return { name, dir, versions: await directVersions(dir) }
}

/**
 * The peer, installed from its lockfile if it is not yet (or no longer matches it, or its native
 * modules do not load on this node); progress on stderr. Never throws: a failure is the reason.
 */
export async function installPeer(name: PeerName): Promise<PeerInstall> {
  const dir = peerDir(name)
  if (!existsSync(path.join(dir, 'package-lock.json')))
    return { installed: false, reason: `${path.relative(benchDir, dir)}/package-lock.json is missing` }
  const installed = await installedPeer(name)
  if (installed) return { installed: true, peer: installed }
  process.stderr.write(
    `${name}: installing the peer into bench/peers/${name} (npm ci from its lockfile; a native build can take minutes)\n`,
  )
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const install = await run(npm, ['ci', '--no-audit', '--no-fund'], dir, installTimeoutMs)
  if (install.failure !== null) {
    const output = install.output.trim()
    return { installed: false, reason: `in bench/peers/${name}, ${install.failure}${output ? `:\n${output}` : ''}` }
  }
  const peer = await installedPeer(name)
  if (!peer) return { installed: false, reason: `bench/peers/${name} installed, but its native modules do not load` }
  return { installed: true, peer }
}
