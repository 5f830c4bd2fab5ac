import type { Deps } from '../deps.js'
import { issueAccessToken, type IssuedAccessToken } from './access-token.js'
import type { User } from '../users/user.js'
import { releasedClaims } from '../users/user-claims.js'
import type { Session } from '../sessions/session.js'

/** RFC 9068 §2.2 access token for a user's session: identity claims from the user, grant from the session. */
export async function issueUserAccessToken(
  deps: Pick<Deps, 'keystore' | 'config' | 'clock'>,
  user: User,
  session: Session,
  dpopJkt: string | null = null,
): Promise<IssuedAccessToken> {
  // Only what the grant's scopes release (OIDC Core §5.4); the first-party app sees the email.
  const { email, email_verified } = releasedClaims(user, session)
  return issueAccessToken(deps, {
    subject: user.id,
    clientId: session.clientId,
    audience: session.audience,
    scopes: session.scopes,
    dpopJkt,
    extraClaims: {
      sid: session.id,
      auth_time: Math.floor(session.authTime / 1000),
      amr: session.amr,
      ...(email === undefined ? {} : { email, email_verified }),
    },
  })
}
