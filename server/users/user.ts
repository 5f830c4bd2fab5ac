import type { UserRow } from './user.table.js'

export interface User {
  id: string
  email: string
  name: string | null
  passwordHash: string
  emailVerified: boolean
  disabled: boolean
  tokensValidAfter: number
  createdAt: number
}

export function userFromRow(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    passwordHash: row.password_hash,
    emailVerified: row.email_verified === 1,
    disabled: row.disabled === 1,
    tokensValidAfter: row.tokens_valid_after,
    createdAt: row.created_at,
  }
}
