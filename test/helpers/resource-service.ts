import type { TestApp } from './build-test-app.js'
import { buildTestApp } from './build-test-app.js'
import { freePort } from './free-port.js'
import type { Dialect, Tap } from './test-database.js'
import { registerUser } from './users.js'
import { findUserByEmail } from '../../server/users/user.store.js'
import { startSession } from '../../server/sessions/start-session.js'
import { issueUserAccessToken } from '../../server/tokens/user-access-token.js'

export const NOTES_AUDIENCE = 'http://notes.test'

export interface ListeningLatchkey extends TestApp {
  issuer: string
}

/** A real Latchkey listening on loopback, its issuer being the URL it listens on. */
export async function startLatchkey(
  t: Tap,
  dialect: Dialect,
  env: Record<string, string> = {},
): Promise<ListeningLatchkey> {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_ISSUER: issuer, ...env } })
  await testApp.app.listen({ port, host: '127.0.0.1' })
  return { ...testApp, issuer }
}

export interface NotesGrant {
  userId: string
  sessionId: string
  accessToken: string
  refreshToken: string
}

/**
 * A user's session granting the notes scopes to the notes audience, started and signed by the same
 * functions the authorization-code grant uses (the hosted login that will hand such grants to
 * browser apps is issue 6).
 */
export async function grantNotes(
  testApp: TestApp,
  email: string,
  scopes = ['notes:read', 'notes:write'],
): Promise<NotesGrant> {
  await registerUser(testApp, email)
  const user = await findUserByEmail(testApp.deps.db, email)
  if (!user) throw new Error('registered user not found')
  const { session, refreshToken } = await startSession(testApp.deps, user, {
    clientId: 'latchkey',
    scopes,
    audience: NOTES_AUDIENCE,
    amr: ['pwd'],
    ip: null,
    userAgent: null,
  })
  const { token } = await issueUserAccessToken(testApp.deps, user, session)
  return { userId: user.id, sessionId: session.id, accessToken: token, refreshToken }
}
