import type { Logger } from 'pino'
import type { Keystore } from '../keys/keystore.js'
import type { FindClient } from './clients/client-lookup.js'
import type { Clock } from './clock.js'
import type { Config } from './config.js'
import type { Db } from './db/database.js'

/** Built once by main.ts; functions take the narrowest slice they need. */
export interface Deps {
  config: Config
  db: Db
  keystore: Keystore
  clock: Clock
  log: Logger
  /** Cached client lookup for authenticating OAuth requests. */
  findClient: FindClient
}
