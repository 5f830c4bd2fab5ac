// Runs after `npm ci`. argon2's prebuilt linux binary has crashed on load on our machines, and
// better-sqlite3 may find no prebuilt binary at all, so we prove both work in a child process
// (a crash must not take this script down) and rebuild from source when they do not.
import { spawnSync } from 'node:child_process'

const probe = `
  const Database = require('better-sqlite3');
  new Database(':memory:').prepare('select 1 as x').get();
  require('argon2').hash('probe', { type: 2, memoryCost: 1024, timeCost: 1 }).then(() => process.exit(0), () => process.exit(1));
`

function nativeModulesWork() {
  const result = spawnSync(process.execPath, ['-e', probe], { stdio: 'ignore' })
  return result.status === 0
}

if (nativeModulesWork()) process.exit(0)

console.log('latchkey: native modules failed to load; rebuilding argon2 and better-sqlite3 from source')
const rebuild = spawnSync('npm', ['rebuild', 'argon2', 'better-sqlite3'], {
  stdio: 'inherit',
  env: { ...process.env, npm_config_build_from_source: 'true' },
})
if (rebuild.status !== 0 || !nativeModulesWork()) {
  console.error(
    'latchkey: argon2 or better-sqlite3 still does not load after a rebuild from source (needs python3, make, g++)',
  )
  process.exit(1)
}
