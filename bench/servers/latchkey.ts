// Latchkey from dist/ with one client_credentials client, as bench/run.ts compares it.
import { clientCredentialsRequest } from '../lib/client-credentials.js'
import { prepareLatchkey } from '../lib/latchkey.js'
import type { ServerUnderTest } from '../lib/server-under-test.js'
import { AUDIENCE, SCOPE, type TokenServer } from './token-server.js'

export const latchkey: ServerUnderTest<TokenServer> = {
  name: 'latchkey',
  async start(settings) {
    const instance = await prepareLatchkey(settings, { from: 'dist' })
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
