import type { Generated, Insertable, Selectable } from 'kysely'

export interface UsersTable {
  id: string
  /** Canonical form: trimmed, NFKC, lower-cased. */
  email: string
  name: string | null
  password_hash: string
  email_verified: number
  disabled: number
  /** Access tokens issued before this instant (epoch ms) are void. */
  tokens_valid_after: number
  /** The password was last changed or reset at this instant (epoch ms); a rehash leaves it. */
  credentials_changed_at: Generated<number>
  /** Set when the account was erased: personal data removed, the id kept as a pseudonym. */
  erased_at: number | null
  created_at: number
  updated_at: number
}

export type UserRow = Selectable<UsersTable>
export type NewUserRow = Insertable<UsersTable>
