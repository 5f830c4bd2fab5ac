import { html } from '../pages/html.js'
import type { Page } from '../pages/send-page.js'
import type { ScopeDescription } from './signin-pages.js'

// The device sign-in's own pages (RFC 8628 §3.3): enter the code, then approve or deny. Plain
// forms, like every hosted page.

export function deviceCodePage(
  form: { csrf: string },
  values: { userEmail: string; userCode?: string; error?: string; status?: number },
): Page {
  return {
    title: 'Connect a device',
    status: values.status ?? 200,
    body: html`<h1>Connect a device</h1>
<p>Signed in as <strong>${values.userEmail}</strong>. <a href="/signout">Not you?</a></p>
${values.error ? html`<p class="error" role="alert" id="form-error">${values.error}</p>` : ''}
<form method="post" action="/device" novalidate>
<input type="hidden" name="csrf" value="${form.csrf}">
<label for="user_code">Enter the code shown on your device</label>
<input id="user_code" name="user_code" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false" required maxlength="20" placeholder="XXXX-XXXX" value="${values.userCode ?? ''}"${values.error ? html` aria-describedby="form-error"` : ''}>
<button type="submit">Continue</button>
</form>`,
  }
}

export function deviceConsentPage(
  form: { csrf: string },
  values: { clientName: string; userEmail: string; userCode: string; scopes: ScopeDescription[] },
): Page {
  return {
    title: 'Allow the device?',
    body: html`<h1>Allow ${values.clientName} on your device?</h1>
<p>Signed in as <strong>${values.userEmail}</strong>. <a href="/signout">Not you?</a></p>
<p>Only allow this if you started the sign-in yourself and your device shows the code <strong>${values.userCode}</strong>.</p>
${values.scopes.length > 0 ? html`<p>${values.clientName} asks to:</p><ul>${values.scopes.map((s) => html`<li>${s.text} <code>${s.scope}</code></li>`)}</ul>` : html`<p>${values.clientName} asks to know who you are.</p>`}
<form method="post" action="/device/consent">
<input type="hidden" name="csrf" value="${form.csrf}">
<input type="hidden" name="user_code" value="${values.userCode}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>`,
  }
}
