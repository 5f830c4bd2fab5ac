// `npm run bench:peers`: installs the peers of bench/peers/ into their own folders ahead of a bench
// run (`npm run bench` also does it on demand), or says why one cannot be installed.
import { installPeer } from './lib/peer.js'

const install = await installPeer('better-auth')
if (install.installed) {
  const versions = Object.entries(install.peer.versions).map(([name, version]) => `${name} ${version}`)
  console.log(`better-auth: installed in bench/peers/better-auth (${versions.join(', ')})`)
} else {
  console.error(`better-auth: could not be installed: ${install.reason}`)
  process.exitCode = 1
}
