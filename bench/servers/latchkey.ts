// Latchkey from dist/ with one client_credentials client, as bench/run.ts compares it.
import { clientCredentialsRequest } from '../lib/client-credentials.js'
import { prepareLatchkey } from '../lib/latchkey.js'
import type { ServerUnderTest } from '../lib/server-under-test.js'
import { AUDIENCE, SCOPE, type TokenServer } from './token-server.js'

/**
 * The bench's one client asks for tens of thousands of tokens a minute from 127.0.0.1, far past the
 * default per-client budget of /oauth/token (6,000 a minute), and oidc-provider has no such limit:
 * the budget is off here, and the bench says so.
 */
const benchEnv = { LATCHKEY_TOKEN_RATE_LIMIT: '0' }

export const latchkey: ServerUnderTest<TokenServer> = {
  name: 'latchkey',
  async start(settings) {
    process.stderr.write('latchkey: LATCHKEY_TOKEN_RATE_LIMIT=0, the per-client token budget is off for the bench\n')
    const instance = await prepareLatchkey(settings, { from: 'dist', env: benchEnv })
    try {
      const client = await instance.cliJson<{ client_id: string; client_secret: string }>(
        // prettier-ignore
        ['clients', 'create', '--name', 'bench', '--grant', 'client_credentials', '--scope', SCOPE, '--audience', AUDIENCE, '--json'],
      )
      const server = await instance.serve()
      return {
        ...server,
        stop: async () => {
          const result = await server.stop()
          await instance.close()
          return result
        },
        issuer: server.origin,
        audience: AUDIENCE,
        workloads: {
          token: clientCredentialsRequest(`${server.origin}/oauth/token`, client),
          jwks: { url: `${server.origin}/.well-known/jwks.json`, method: 'GET' },
        },
      }
    } catch (error) {
      await instance.close()
      throw error
    }
  },
}
