// Runs after `npm ci`. better-sqlite3 may find no prebuilt binary at all, and node-argon2's
// prebuilt linux binary has crashed on load on our machines (it is only a devDependency now: the
// tests prove that hashes it wrote still verify), so we prove they work in a child process (a crash
// must not take this script down) and rebuild them from source when they do not. @node-rs/argon2,
// which hashes passwords, ships a prebuilt binary per platform and cannot be built here: if it
// does not load, say so.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const installed = (name) => {
  try {
    require.resolve(name)
    return true
  } catch {
    return false
  }
}

const probes = {
  'better-sqlite3': `new (require('better-sqlite3'))(':memory:').prepare('select 1 as x').get()`,
  '@node-rs/argon2': `require('@node-rs/argon2').hashSync('probe', { memoryCost: 1024, timeCost: 1 })`,
  argon2: `require('argon2').hash('probe', { type: 2, memoryCost: 1024, timeCost: 1 }).then(() => process.exit(0), () => process.exit(1))`,
}

function loads(name) {
  return spawnSync(process.execPath, ['-e', probes[name]], { stdio: 'ignore' }).status === 0
}

const present = Object.keys(probes).filter(installed)
const failing = present.filter((name) => !loads(name))
if (failing.length === 0) process.exit(0)

if (failing.includes('@node-rs/argon2')) {
  console.error(
    `latchkey: @node-rs/argon2 does not load on ${process.platform}-${process.arch}; it needs its prebuilt binary (npm installs it as an optional dependency: check that optional dependencies are not omitted)`,
  )
  process.exit(1)
}
console.log(`latchkey: ${failing.join(' and ')} failed to load; rebuilding from source`)
const rebuild = spawnSync('npm', ['rebuild', ...failing], {
  stdio: 'inherit',
  env: { ...process.env, npm_config_build_from_source: 'true' },
})
const stillFailing = failing.filter((name) => !loads(name))
if (rebuild.status !== 0 || stillFailing.length > 0) {
  console.error(
    `latchkey: ${stillFailing.join(' and ') || failing.join(' and ')} still does not load after a rebuild from source (needs python3, make, g++)`,
  )
  process.exit(1)
}
