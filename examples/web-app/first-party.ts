// The first-party mode of client/: for an app served on Latchkey's own site (same registrable
// domain). It signs in with /auth/login, keeps the access token in memory and refreshes it
// through the session cookie, one tab at a time.
import { createFirstPartyClient, LatchkeyError } from '../../client/src/index.js'

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const config = (await (await fetch('/config.json')).json()) as { issuer: string }
const client = createFirstPartyClient({ baseUrl: config.issuer })
;(window as unknown as { webApp: unknown }).webApp = { client }

client.subscribe((state) => {
  byId('status').textContent = state.status === 'signed-in' ? 'Signed in' : 'Signed out'
  byId('login').hidden = state.status === 'signed-in'
  byId('signed-in').hidden = state.status !== 'signed-in'
  byId('who').textContent = state.status === 'signed-in' ? String(state.claims.email ?? state.claims.sub) : ''
})
client.attachLoginForm(byId<HTMLFormElement>('login'), (result) => {
  byId('error').hidden = !(result instanceof LatchkeyError)
  if (result instanceof LatchkeyError) byId('error').textContent = result.description
})
byId('sign-out').addEventListener('click', () => void client.logout())
// A reload or a new tab: the session cookie, if any, gives this tab its access token.
await client.refresh().catch(() => null)
