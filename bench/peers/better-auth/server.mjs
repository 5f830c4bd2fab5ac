// Better Auth as a benchmark peer of Latchkey (issue 15; bench/README.md, "Peers"). Plain JavaScript
// run by node from this folder, so its imports find this folder's own node_modules (installed by
// bench/lib/peer.ts from package-lock.json), never the product's.
//
// Better Auth's own pieces only: the email-and-password sign-in, the jwt plugin (it signs the JWTs
// and serves the JWKS; no JWT code here), the Kysely SQLite adapter on a better-sqlite3 database,
// its own migrations, and its node handler on node:http. The rate limiter and telemetry are off.
//
// Environment: PORT, DATA_DIR (the SQLite file goes there), SECRET. Prints "ready" once it listens.
import { createServer } from 'node:http'
import path from 'node:path'
import { betterAuth } from 'better-auth'
import { getMigrations } from 'better-auth/db/migration'
import { toNodeHandler } from 'better-auth/node'
import { jwt } from 'better-auth/plugins'
import Database from 'better-sqlite3'

const port = Number(process.env.PORT)
const origin = `http://127.0.0.1:${port}`
const database = new Database(path.join(process.env.DATA_DIR ?? '.', 'better-auth.db'))
// WAL, as Latchkey and calibration (c) run SQLite.
database.pragma('journal_mode = WAL')

const options = {
  baseURL: origin,
  secret: process.env.SECRET,
  database,
  emailAndPassword: { enabled: true },
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  logger: { level: 'warn' },
  plugins: [
    jwt({
      // ES256 and 10 minutes, as Latchkey's access tokens (the plugin's defaults are EdDSA, 15 min).
      jwks: { keyPairConfig: { alg: 'ES256' } },
      jwt: { expirationTime: '10m' },
    }),
  ],
}

const { runMigrations } = await getMigrations(options)
await runMigrations()

const auth = betterAuth(options)
const server = createServer(toNodeHandler(auth))
server.listen(port, '127.0.0.1', () => console.log('ready'))

process.once('SIGTERM', () => {
  server.close(() => {
    database.close()
    process.exit(0)
  })
  server.closeAllConnections()
})
