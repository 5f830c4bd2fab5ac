// The example single-page app: signs in through Latchkey's hosted page (authorization code +
// PKCE), shows the profile, calls the notes service when one is configured, survives a reload
// and signs out. Everything it knows about tokens comes from client/.
import { createRedirectClient, LatchkeyError, type AuthState } from '../../client/src/index.js'

interface AppConfig {
  issuer: string
  clientId: string
  redirectUri: string
  notesUrl: string | null
  dpop: boolean
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

const config = (await (await fetch('/config.json')).json()) as AppConfig
const client = createRedirectClient({
  issuer: config.issuer,
  clientId: config.clientId,
  redirectUri: config.redirectUri,
  scope: 'openid email profile',
  // The token goes to this page's origin and these only: userinfo on Latchkey, the notes service.
  apiOrigins: [new URL(config.issuer).origin, ...(config.notesUrl ? [new URL(config.notesUrl).origin] : [])],
  // DPOP=true: tokens bound to a non-extractable key kept in IndexedDB.
  dpop: config.dpop,
})
// For the end-to-end test and the curious: the client in the console.
;(window as unknown as { webApp: unknown }).webApp = { client }

function showError(error: unknown): void {
  const text = error instanceof LatchkeyError ? error.description : String(error)
  byId('error').textContent = text
  byId('error').hidden = false
}

async function render(state: AuthState): Promise<void> {
  byId('signed-in').hidden = state.status !== 'signed-in'
  byId('signed-out').hidden = state.status === 'signed-in'
  byId('status').textContent = state.status === 'signed-in' ? 'Signed in' : 'Signed out'
  if (state.status !== 'signed-in') return
  const profile = await client.fetch(`${config.issuer}/oauth/userinfo`)
  if (!profile.ok) return showError(`userinfo answered ${profile.status}`)
  const user = (await profile.json()) as { sub: string; email?: string; name?: string }
  byId('profile-name').textContent = user.name ?? '—'
  byId('profile-email').textContent = user.email ?? '—'
  byId('profile-sub').textContent = user.sub
  if (config.notesUrl) {
    const notes = await client.fetch(config.notesUrl)
    byId('notes').hidden = false
    byId('notes-body').textContent = notes.ok
      ? JSON.stringify(await notes.json(), null, 2)
      : `the notes service answered ${notes.status}`
  }
}

byId('sign-in').addEventListener('click', () => void client.signIn({ returnTo: '/' }).catch(showError))
byId('refresh').addEventListener('click', () => void client.refresh().catch(showError))
byId('sign-out').addEventListener('click', () => void client.logout({ endSignin: true }).catch(showError))

try {
  const result = await client.handleRedirect()
  if (result?.returnTo) history.replaceState(null, '', result.returnTo)
  // Tokens live in memory only: after a reload, come back signed in through Latchkey (prompt=none).
  if (result === null && (await client.restore())) {
    byId('status').textContent = 'Restoring your session…'
  } else {
    let previous = ''
    client.subscribe((state) => {
      const key = state.status === 'signed-in' ? String(state.claims.sub) : 'out'
      if (key === previous) return
      previous = key
      render(state).catch(showError)
    })
  }
} catch (error) {
  showError(error)
  byId('signed-out').hidden = false
  byId('status').textContent = 'Signed out'
}
