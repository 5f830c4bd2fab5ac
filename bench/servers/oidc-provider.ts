// node-oidc-provider (bench/oidc-provider-server.ts) as bench/run.ts compares it.
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import ts from 'typescript'
import { BenchError } from '../lib/bench-error.js'
import { clientCredentialsRequest, formEncode } from '../lib/client-credentials.js'
import { fetchJson } from '../lib/fetch-json.js'
import { freePort } from '../lib/free-port.js'
import { benchDir } from '../lib/paths.js'
import { printed, startNodeServer, type ServerUnderTest } from '../lib/server-under-test.js'
import { AUDIENCE, SCOPE, type TokenServer } from './token-server.js'

const source = path.join(benchDir, 'oidc-provider-server.ts')

/** The server's code as plain JavaScript, to run without a TypeScript loader. */
async function transpiled(): Promise<string> {
  return ts.transpileModule(await readFile(source, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    fileName: source,
  }).outputText
}

export const oidcProvider: ServerUnderTest<TokenServer> = {
  name: 'oidc-provider',
  async start(settings) {
    const port = await freePort()
    const client = { client_id: 'bench', client_secret: randomBytes(32).toString('base64url') }
    // Default: transpile in memory and run with `node --input-type=module -e`, so the measured
    // process carries no TypeScript loader (Latchkey runs compiled JS). BENCH_OIDC_LOADER=tsx runs
    // the .ts file through tsx instead.
    const args =
      settings.oidcLoader === 'tsx' ? ['--import', 'tsx', source] : ['--input-type=module', '-e', await transpiled()]
    const server = await startNodeServer({
      name: 'oidc-provider',
      args,
      env: {
        ...process.env,
        PORT: String(port),
        CLIENT_ID: client.client_id,
        CLIENT_SECRET: client.client_secret,
        RESOURCE: AUDIENCE,
      },
      port,
      ready: printed('ready'),
    })
    try {
      const discovery = await fetchJson(`${server.origin}/.well-known/openid-configuration`)
      if (typeof discovery.jwks_uri !== 'string' || typeof discovery.token_endpoint !== 'string') {
        throw new BenchError(`oidc-provider discovery has no jwks_uri/token_endpoint: ${JSON.stringify(discovery)}`)
      }
      return {
        ...server,
        issuer: server.origin,
        audience: AUDIENCE,
        workloads: {
          // oidc-provider has no "default to the client's scope" for client_credentials: without the
          // scope parameter its token carries no scope. Ask for it so both tokens hold the same claims.
          token: clientCredentialsRequest(
            discovery.token_endpoint,
            client,
            `grant_type=client_credentials&scope=${formEncode(SCOPE)}`,
          ),
          jwks: { url: discovery.jwks_uri, method: 'GET' },
        },
      }
    } catch (error) {
      await server.stop()
      throw error
    }
  },
}
