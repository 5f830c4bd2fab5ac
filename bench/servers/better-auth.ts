// Better Auth (bench/peers/better-auth/server.mjs, its own lockfile) as bench/run.ts compares it:
// the JWT its jwt plugin issues for a signed-in session, and the JWKS the plugin serves.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'
import { BenchError } from '../lib/bench-error.js'
import { fetchJson } from '../lib/fetch-json.js'
import { freePort } from '../lib/free-port.js'
import type { Peer } from '../lib/peer.js'
import { printed, startNodeServer, type RunningServer, type ServerUnderTest } from '../lib/server-under-test.js'
import type { Workloads } from '../lib/server-under-test.js'

export interface PeerServer extends RunningServer {
  /** `token`: a JWT for the signed-in session; `jwks`: GET of the published key set. */
  workloads: Workloads<'token' | 'jwks'>
  /** One JWT from `token`, checked against `jwks` before any load. */
  firstToken: string
}

/** Better Auth from the installed peer, with one user signed up and its session cookie. */
export function betterAuth(peer: Peer): ServerUnderTest<PeerServer> {
  return {
    name: 'better-auth',
    async start() {
      const port = await freePort()
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-bench-better-auth-'))
      const server = await startNodeServer({
        name: 'better-auth',
        args: [path.join(peer.dir, 'server.mjs')],
        env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, SECRET: randomBytes(32).toString('base64url') },
        port,
        ready: printed('ready'),
        cleanup: () => rm(dataDir, { recursive: true, force: true }),
      })
      try {
        const auth = `${server.origin}/api/auth`
        // Better Auth checks the Origin of a state-changing request against its base URL.
        const signUp = await fetch(`${auth}/sign-up/email`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin: server.origin },
          body: JSON.stringify({
            name: 'bench',
            email: 'bench@example.com',
            password: randomBytes(18).toString('base64url'),
          }),
        })
        const cookie = signUp.headers
          .getSetCookie()
          .map((header) => header.split(';')[0]!)
          .find((pair) => pair.startsWith('better-auth.session_token='))
        if (signUp.status !== 200 || !cookie)
          throw new BenchError(`better-auth: sign-up answered ${signUp.status}: ${await signUp.text()}`)

        const token = { url: `${auth}/token`, method: 'GET' as const, headers: { cookie } }
        const jwks = { url: `${auth}/jwks`, method: 'GET' as const }
        const issued = await fetchJson(token.url, { headers: token.headers })
        if (typeof issued.token !== 'string')
          throw new BenchError(`better-auth: /token gave no token: ${JSON.stringify(issued)}`)
        const keySet = createLocalJWKSet((await fetchJson(jwks.url)) as unknown as JSONWebKeySet)
        // The plugin's defaults: issuer and audience are the base URL.
        await jwtVerify(issued.token, keySet, {
          issuer: server.origin,
          audience: server.origin,
          algorithms: ['ES256'],
        }).catch((error: unknown) => {
          throw new BenchError(`better-auth: its JWT does not verify against ${jwks.url} (${String(error)})`)
        })
        return { ...server, workloads: { token, jwks }, firstToken: issued.token }
      } catch (error) {
        await server.stop()
        throw error
      }
    },
  }
}
