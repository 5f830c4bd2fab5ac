import { FIRST_PARTY_CLIENT_ID } from '../clients/client.js'
import type { User } from './user.js'

export interface ReleasedClaims {
  email?: string
  email_verified?: boolean
  name?: string
}

/**
 * The identity claims an app may see (OIDC Core §5.4): the email with the `email` scope, the name
 * with `profile`. Latchkey's own first-party app (`/auth/login`) sees both.
 */
export function releasedClaims(user: User, grant: { clientId: string; scopes: readonly string[] }): ReleasedClaims {
  const all = grant.clientId === FIRST_PARTY_CLIENT_ID
  return {
    ...(all || grant.scopes.includes('email') ? { email: user.email, email_verified: user.emailVerified } : {}),
    ...((all || grant.scopes.includes('profile')) && user.name ? { name: user.name } : {}),
  }
}
