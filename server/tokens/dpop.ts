import type { Redis } from 'ioredis'
import type { Clock } from '../clock.js'
import type { Db } from '../db/database.js'
import { createDpopNonces, type DpopNonces } from './dpop-nonce.js'
import { createDpopJtiClaimer, type ClaimDpopJti } from './dpop-replay.js'

/** What DPoP needs across requests: the nonce key and the shared jti store (built once by main.ts). */
export interface DpopState {
  nonces: DpopNonces
  claimJti: ClaimDpopJti
}

export function createDpopState(deps: { db: Db; redis: Redis | null; clock: Clock }, nonceKey: Uint8Array): DpopState {
  return { nonces: createDpopNonces(nonceKey, deps.clock), claimJti: createDpopJtiClaimer(deps) }
}
