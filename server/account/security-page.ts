import { html, Html } from '../pages/html.js'
import type { Page } from '../pages/send-page.js'
import { WEBAUTHN_SCRIPT_PATH } from '../pages/webauthn-script.route.js'
import type { Passkey } from '../passkeys/passkey.js'

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)

/** What the authenticator-app section shows. */
export interface TotpSection {
  enrolled: boolean
  recoveryCodesLeft: number
  /** The sign-in is older than 5 minutes: changes need the password. */
  needsPassword: boolean
  /** A setup in progress: the secret, and its otpauth URI as a QR code (SVG markup from the qrcode library). */
  setup?: { secret: string; qrSvg: string }
  /** Recovery codes just made: shown this once. */
  recoveryCodes?: string[]
  /** The app's authorization request this page interrupts (LATCHKEY_MFA=required, --require-mfa). */
  authorize: string | null
  /** A second factor is set up: the app's request can go on (with a second step if this sign-in had none). */
  mayContinue: boolean
}

const passwordField = (needed: boolean, id: string) =>
  needed
    ? html`<label for="${id}">Your password</label><input id="${id}" name="password" type="password" autocomplete="current-password" required>`
    : ''

function totpSection(csrf: string, totp: TotpSection) {
  const hiddenFields = html`<input type="hidden" name="csrf" value="${csrf}">${totp.authorize === null ? '' : html`<input type="hidden" name="authorize" value="${totp.authorize}">`}`
  const codes = totp.recoveryCodes
    ? html`<div id="recovery-codes"><p><strong>Your recovery codes.</strong> Each signs you in once if you lose your authenticator app. Keep them somewhere safe: they are shown only now.</p>
<ul>${totp.recoveryCodes.map((c) => html`<li><code>${c}</code></li>`)}</ul></div>`
    : ''
  if (totp.setup)
    return html`<h2>Authenticator app</h2>
<p>Scan this code with your authenticator app, or enter the key by hand.</p>
<div class="qr">${new Html(totp.setup.qrSvg)}</div>
<p>Key: <code id="totp-secret">${totp.setup.secret}</code></p>
<form method="post" action="/account/security/totp/confirm">
${hiddenFields}
<label for="totp-code">Code from the app</label>
<input id="totp-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="64" required>
<button type="submit">Turn on</button>
</form>`
  if (!totp.enrolled)
    return html`<h2>Authenticator app</h2>
${totp.authorize !== null ? html`<p class="error" role="alert">Set up a second factor to continue to the app.</p>` : ''}
<p>An authenticator app adds a code to your sign-in, so your password alone is not enough.</p>
<form method="post" action="/account/security/totp/setup">
${hiddenFields}
${passwordField(totp.needsPassword, 'setup-password')}
<button type="submit">Set up an authenticator app</button>
</form>`
  return html`<h2>Authenticator app</h2>
<p>Two-step sign-in with an authenticator app is on. <span id="recovery-codes-left">${totp.recoveryCodesLeft}</span> unused recovery code${totp.recoveryCodesLeft === 1 ? '' : 's'} left.</p>
${codes}
<form method="post" action="/account/security/recovery-codes">
${hiddenFields}
${passwordField(totp.needsPassword, 'regenerate-password')}
<button type="submit" class="secondary">Make new recovery codes</button>
</form>
<form method="post" action="/account/security/totp/delete">
${hiddenFields}
${passwordField(totp.needsPassword, 'remove-password')}
<button type="submit" class="secondary">Turn off the authenticator app</button>
</form>`
}

/** The account security page: the authenticator app, the user's passkeys, a form to add one, one to remove each. */
export function securityPage(
  csrf: string,
  values: {
    email: string
    passkeys: Passkey[]
    totp: TotpSection
    error?: string
    info?: string
    status?: number
  },
): Page {
  return {
    title: 'Account security',
    status: values.status ?? 200,
    body: html`<h1>Account security</h1>
<p>Signed in as <strong>${values.email}</strong>. <a href="/signout">Sign out</a></p>
${values.error ? html`<p class="error" role="alert">${values.error}</p>` : ''}
${values.info ? html`<p class="success" role="status">${values.info}</p>` : ''}
${values.totp.authorize !== null && values.totp.mayContinue ? html`<p><a id="continue" href="/oauth/authorize?${values.totp.authorize}">Continue to the app</a></p>` : ''}
${totpSection(csrf, values.totp)}
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
${passwordField(values.totp.needsPassword, `remove-passkey-password-${p.id}`)}
<button type="submit" class="secondary" aria-label="Remove passkey ${p.name}">Remove</button>
</form></li>`,
      )}</ul>`
}
<form method="post" action="/account/security/passkeys" id="passkey-form">
<input type="hidden" name="csrf" value="${csrf}">
<input type="hidden" name="passkey_response" value="">
${passwordField(values.totp.needsPassword, 'passkey-password')}
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
        body: new URLSearchParams({
          csrf: form.elements.csrf.value,
          ...(form.elements.password ? { password: form.elements.password.value } : {}),
        }).toString(),
      })
      if (!res.ok) {
        status.textContent = res.status === 403 || res.status === 429 ? await res.text() : 'The passkey was not added. Try again.'
        button.disabled = false
        return
      }
      const response = await webauthn.startRegistration({ optionsJSON: await res.json() })
      form.elements.passkey_response.value = JSON.stringify(response)
      form.submit()
    } catch {
      status.textContent = 'The passkey was not added. Try again.'
      button.disabled = false
    }
  })
})()`
