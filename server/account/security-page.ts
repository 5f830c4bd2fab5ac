import { html } from '../pages/html.js'
import type { Page } from '../pages/send-page.js'
import { WEBAUTHN_SCRIPT_PATH } from '../pages/webauthn-script.route.js'
import type { Passkey } from '../passkeys/passkey.js'

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)

/** The account security page: the user's passkeys, a form to add one, one to remove each. */
export function securityPage(
  csrf: string,
  values: { email: string; passkeys: Passkey[]; error?: string; info?: string; status?: number },
): Page {
  return {
    title: 'Account security',
    status: values.status ?? 200,
    body: html`<h1>Account security</h1>
<p>Signed in as <strong>${values.email}</strong>. <a href="/signout">Sign out</a></p>
${values.error ? html`<p class="error" role="alert">${values.error}</p>` : ''}
${values.info ? html`<p class="success" role="status">${values.info}</p>` : ''}
<h2>Passkeys</h2>
<p>A passkey signs you in with your device's screen lock or security key, without a password.</p>
${
  values.passkeys.length === 0
    ? html`<p>You have no passkeys yet.</p>`
    : html`<ul>${values.passkeys.map(
        (
          p,
        ) => html`<li><strong>${p.name}</strong>, added ${day(p.createdAt)}${p.lastUsedAt === null ? '' : html`, last used ${day(p.lastUsedAt)}`}
<form method="post" action="/account/security/passkeys/delete">
<input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="passkey_id" value="${p.id}">
<button type="submit" class="secondary" aria-label="Remove passkey ${p.name}">Remove</button>
</form></li>`,
      )}</ul>`
}
<form method="post" action="/account/security/passkeys" id="passkey-form">
<input type="hidden" name="csrf" value="${csrf}">
<input type="hidden" name="passkey_response" value="">
<label for="passkey-name">Name for a new passkey <span>(optional)</span></label>
<input id="passkey-name" name="name" type="text" maxlength="100" placeholder="e.g. work laptop">
<button type="button" id="passkey-button" hidden>Add a passkey</button>
<p id="passkey-status" role="status">Adding a passkey needs JavaScript and a browser with passkey support.</p>
</form>`,
    script: addPasskeyScript,
    scriptSources: [WEBAUTHN_SCRIPT_PATH],
  }
}

// Creation options from the server (bound to this sign-in by the CSRF token), the authenticator
// makes the credential, and its JSON is posted with the form.
const addPasskeyScript = `(() => {
  const form = document.getElementById('passkey-form')
  const button = document.getElementById('passkey-button')
  const status = document.getElementById('passkey-status')
  const webauthn = window.SimpleWebAuthnBrowser
  if (!form || !button || !webauthn || !webauthn.browserSupportsWebAuthn()) return
  button.hidden = false
  status.textContent = ''
  button.addEventListener('click', async () => {
    button.disabled = true
    status.textContent = ''
    try {
      const res = await fetch('/account/security/passkeys/options', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf: form.elements.csrf.value }).toString(),
      })
      if (!res.ok) throw new Error('options')
      const response = await webauthn.startRegistration({ optionsJSON: await res.json() })
      form.elements.passkey_response.value = JSON.stringify(response)
      form.submit()
    } catch {
      status.textContent = 'The passkey was not added. Try again.'
      button.disabled = false
    }
  })
})()`
