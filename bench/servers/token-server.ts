// What bench/run.ts compares: servers issuing client_credentials ES256 access tokens for one
// audience and scope, and publishing their keys.
import type { RunningServer, Workloads } from '../lib/server-under-test.js'

export const AUDIENCE = 'https://api.example.com'
export const SCOPE = 'notes:read notes:write'

export interface TokenServer extends RunningServer {
  issuer: string
  audience: string
  /** `token`: the client_credentials request; `jwks`: GET of the published key set. */
  workloads: Workloads<'token' | 'jwks'>
}
