import type { Kysely } from 'kysely'
import type { KeyLifecycleLockTable, SigningKeysTable } from '../../keys/signing-key.table.js'
import type { ClientsTable } from '../clients/client.table.js'

export interface Database {
  signing_keys: SigningKeysTable
  key_lifecycle_lock: KeyLifecycleLockTable
  clients: ClientsTable
}

export type Db = Kysely<Database>
