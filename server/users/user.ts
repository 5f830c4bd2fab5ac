import type { UserRow } from './user.table.js'

export interface User {
  id: string
  email: string
  name: string | null
  passwordHash: string
  emailVerified: boolean
  disabled: boolean
  tokensValidAfter: number
  credentialsChangedAt: number
  createdAt: number
  erasedAt: number | null
}

export function userFromRow(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    passwordHash: row.password_hash,
    emailVerified: row.email_verified === 1,
    disabled: row.disabled === 1,
    tokensValidAfter: Number(row.tokens_valid_after),
    credentialsChangedAt: Number(row.credentials_changed_at),
    createdAt: row.created_at,
    erasedAt: row.erased_at === null ? null : Number(row.erased_at),
  }
}

/** The user as shown to operators (CLI, admin API): never the password hash. */
export interface UserView {
  id: string
  email: string | null
  name: string | null
  email_verified: boolean
  disabled: boolean
  created_at: string
  erased_at: string | null
}

export function viewUser(user: User): UserView {
  const erased = user.erasedAt !== null
  return {
    id: user.id,
    email: erased ? null : user.email,
    name: user.name,
    email_verified: user.emailVerified,
    disabled: user.disabled,
    created_at: new Date(user.createdAt).toISOString(),
    erased_at: erased ? new Date(user.erasedAt!).toISOString() : null,
  }
}
