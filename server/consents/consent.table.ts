import type { Selectable } from 'kysely'

/** A user's remembered consent to a third-party client: the scopes granted so far. */
export interface ConsentsTable {
  user_id: string
  client_id: string
  /** Space-separated scopes. */
  scope: string
  created_at: number
  updated_at: number
}

export type ConsentRow = Selectable<ConsentsTable>
