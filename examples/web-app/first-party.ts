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
  // RFC 8176: how this sign-in was made ("pwd", "otp", "hwk", "user", "mfa").
  const amr = state.status === 'signed-in' ? state.claims.amr : undefined
  byId('amr').textContent = Array.isArray(amr) ? amr.map(String).join(' ') : ''
})
const showError = (error: unknown) => {
  byId('error').hidden = !(error instanceof LatchkeyError)
  if (error instanceof LatchkeyError) byId('error').textContent = error.description
}
// A user with a second factor: the password answers mfa_required with an mfa_token, finished
// here with a code from the authenticator app (or a recovery code) or with one of their passkeys.
let mfaToken: string | null = null
const secondStep = (token: string | null) => {
  mfaToken = token
  byId('second-step').hidden = token === null
}
client.attachLoginForm(byId<HTMLFormElement>('login'), (result) => {
  showError(result instanceof LatchkeyError && result.error === 'mfa_required' ? null : result)
  secondStep(result instanceof LatchkeyError && result.error === 'mfa_required' ? String(result.body.mfa_token) : null)
})
byId<HTMLFormElement>('second-step').addEventListener('submit', (event) => {
  event.preventDefault()
  const code = byId<HTMLInputElement>('code').value
  client.loginWithCode(mfaToken ?? '', code).then(() => secondStep(null), showError)
})
byId('second-step-passkey').addEventListener('click', () => {
  client.loginWithPasskey(mfaToken ?? '').then(() => secondStep(null), showError)
})
byId('passkey-sign-in').addEventListener('click', () => {
  client.loginWithPasskey().then(() => showError(null), showError)
})
byId('add-passkey').addEventListener('click', () => {
  client.registerPasskey('example app').then(() => {
    byId('passkey-added').hidden = false
  }, showError)
})
byId('sign-out').addEventListener('click', () => void client.logout())
// A reload or a new tab: the session cookie, if any, gives this tab its access token.
await client.refresh().catch(() => null)
