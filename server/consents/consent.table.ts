import type { Selectable } from 'kysely'

/** A user's remembered consent to a third-party client: the scopes and audiences granted so far. */
export interface ConsentsTable {
  user_id: string
  client_id: string
  /** Space-separated scopes. */
  scope: string
  /** Space-separated audiences (RFC 8707 resources) the tokens may be for. */
  audiences: string
  created_at: number
  updated_at: number
}

export type ConsentRow = Selectable<ConsentsTable>
