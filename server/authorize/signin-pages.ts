import { html, type Html } from '../pages/html.js'
import type { Page } from '../pages/send-page.js'
import { WEBAUTHN_SCRIPT_PATH } from '../pages/webauthn-script.route.js'

// The hosted pages' markup. Plain forms posting application/x-www-form-urlencoded: they work
// without JavaScript. `authorize` carries the app's authorization request through each step; the
// server checks it again on every post.

export interface FormContext {
  csrf: string
  /** The authorization request's query string, or null outside an app's sign-in. */
  authorize: string | null
  /** Where the form's redirect may lead (the app's redirect_uri origin). */
  formActionOrigins?: string[]
  /** A sign-in that started at /device: the code to return with, or "-" (device-continuation.ts). */
  deviceUserCode?: string | null
}

/** What a user sees as the reason to sign in, e.g. "to continue to Notes". */
export interface AppContext {
  clientName: string | null
}

const hidden = (form: FormContext): Html =>
  html`<input type="hidden" name="csrf" value="${form.csrf}">${form.authorize === null ? '' : html`<input type="hidden" name="authorize" value="${form.authorize}">`}${form.deviceUserCode == null ? '' : html`<input type="hidden" name="device_user_code" value="${form.deviceUserCode}">`}`

const withAuthorize = (path: string, authorize: string | null): string =>
  authorize === null ? path : `${path}?${new URLSearchParams({ authorize }).toString()}`

const notice = (message: { error?: string | undefined; info?: string | undefined }): Html =>
  html`${message.error ? html`<p class="error" role="alert" id="form-error">${message.error}</p>` : ''}${message.info ? html`<p class="success" role="status">${message.info}</p>` : ''}`

export function signinPage(
  form: FormContext,
  app: AppContext,
  values: { email?: string | null; error?: string; info?: string; status?: number },
): Page {
  return {
    title: 'Sign in',
    status: values.status ?? 200,
    formActionOrigins: form.formActionOrigins ?? [],
    body: html`<h1>Sign in</h1>
${app.clientName ? html`<p>to continue to <strong>${app.clientName}</strong></p>` : ''}
${notice(values)}
<form method="post" action="/signin" novalidate>
${hidden(form)}
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required value="${values.email ?? ''}"${values.error ? html` aria-describedby="form-error"` : ''}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/signin/passkey" id="passkey-form">
${hidden(form)}
<input type="hidden" name="passkey_response" value="">
<button type="button" id="passkey-button" class="secondary" hidden>Sign in with a passkey</button>
<p id="passkey-status" role="status"></p>
</form>
<p><a href="/reset-password">Forgot your password?</a></p>
<p>New here? <a href="${withAuthorize('/signup', form.authorize)}">Create an account</a></p>`,
    script: passkeySigninScript,
    scriptSources: [WEBAUTHN_SCRIPT_PATH],
  }
}

/** The second step of a sign-in: a code from the authenticator app, or a recovery code. */
export function secondStepPage(
  form: FormContext,
  app: AppContext,
  values: { mfaToken: string; passkey?: boolean; error?: string; status?: number },
): Page {
  const passkey = values.passkey === true
  return {
    title: 'Two-step sign-in',
    status: values.status ?? 200,
    formActionOrigins: form.formActionOrigins ?? [],
    body: html`<h1>Two-step sign-in</h1>
${app.clientName ? html`<p>to continue to <strong>${app.clientName}</strong></p>` : ''}
${notice(values)}
<form method="post" action="/signin/mfa" novalidate>
${hidden(form)}
<input type="hidden" name="mfa_token" value="${values.mfaToken}">
<label for="code">Code from your authenticator app, or a recovery code</label>
<input id="code" name="code" type="text" autocomplete="one-time-code" autocapitalize="off" spellcheck="false" required maxlength="64"${values.error ? html` aria-describedby="form-error"` : ''}>
<button type="submit">Continue</button>
</form>
${
  passkey
    ? html`<form method="post" action="/signin/mfa/passkey" id="passkey-form">
${hidden(form)}
<input type="hidden" name="mfa_token" value="${values.mfaToken}">
<input type="hidden" name="passkey_response" value="">
<button type="button" id="passkey-button" class="secondary" hidden>Use a passkey</button>
<p id="passkey-status" role="status"></p>
</form>`
    : ''
}
<p><a href="${withAuthorize('/signin', form.authorize)}">Start again</a></p>`,
    ...(passkey ? { script: passkeySecondStepScript, scriptSources: [WEBAUTHN_SCRIPT_PATH] } : {}),
  }
}

// "Use a passkey" as the second step: options for this user's passkeys (named by the mfa_token),
// the authenticator's answer posted with the form.
const passkeySecondStepScript = `(() => {
  const form = document.getElementById('passkey-form')
  const button = document.getElementById('passkey-button')
  const status = document.getElementById('passkey-status')
  const webauthn = window.SimpleWebAuthnBrowser
  if (!form || !button || !webauthn || !webauthn.browserSupportsWebAuthn()) return
  button.hidden = false
  button.addEventListener('click', async () => {
    button.disabled = true
    status.textContent = ''
    try {
      const res = await fetch('/signin/mfa/passkey/options', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ mfa_token: form.elements.mfa_token.value }).toString(),
      })
      if (!res.ok) throw new Error('options')
      const response = await webauthn.startAuthentication({ optionsJSON: await res.json() })
      form.elements.passkey_response.value = JSON.stringify(response)
      form.submit()
    } catch {
      status.textContent = 'The passkey did not work. Try again, or enter a code.'
      button.disabled = false
    }
  })
})()`

// The passkey button, shown only where the browser has WebAuthn: request options for a
// discoverable credential, ask the authenticator, and post its answer with the page's form (so the
// server continues the app's sign-in exactly as after a password).
const passkeySigninScript = `(() => {
  const form = document.getElementById('passkey-form')
  const button = document.getElementById('passkey-button')
  const status = document.getElementById('passkey-status')
  const webauthn = window.SimpleWebAuthnBrowser
  if (!form || !button || !webauthn || !webauthn.browserSupportsWebAuthn()) return
  button.hidden = false
  button.addEventListener('click', async () => {
    button.disabled = true
    status.textContent = ''
    try {
      const res = await fetch('/signin/passkey/options', { method: 'POST', credentials: 'same-origin' })
      if (!res.ok) throw new Error('options')
      const response = await webauthn.startAuthentication({ optionsJSON: await res.json() })
      form.elements.passkey_response.value = JSON.stringify(response)
      form.submit()
    } catch {
      status.textContent = 'The passkey sign-in did not complete. Try again, or use your password.'
      button.disabled = false
    }
  })
})()`

export function signupPage(
  form: FormContext,
  app: AppContext,
  values: { email?: string; name?: string; error?: string; status?: number; passwordMinLength: number },
): Page {
  return {
    title: 'Create an account',
    status: values.status ?? 200,
    body: html`<h1>Create an account</h1>
${app.clientName ? html`<p>to continue to <strong>${app.clientName}</strong></p>` : ''}
${notice(values)}
<form method="post" action="/signup" novalidate>
${hidden(form)}
<label for="name">Name <span>(optional)</span></label>
<input id="name" name="name" type="text" autocomplete="name" maxlength="200" value="${values.name ?? ''}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="email" required value="${values.email ?? ''}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="${values.passwordMinLength}" aria-describedby="password-help">
<p id="password-help">At least ${values.passwordMinLength} characters. A few unrelated words make a strong password.</p>
<button type="submit">Create account</button>
</form>
<p>Already have an account? <a href="${withAuthorize('/signin', form.authorize)}">Sign in</a></p>`,
  }
}

export interface ScopeDescription {
  scope: string
  text: string
}

export function consentPage(
  form: FormContext,
  values: { clientName: string; userEmail: string; scopes: ScopeDescription[] },
): Page {
  return {
    title: 'Allow access?',
    formActionOrigins: form.formActionOrigins ?? [],
    body: html`<h1>Allow ${values.clientName} to access your account?</h1>
<p>Signed in as <strong>${values.userEmail}</strong>. <a href="/signout">Not you?</a></p>
${values.scopes.length > 0 ? html`<p>${values.clientName} asks to:</p><ul>${values.scopes.map((s) => html`<li>${s.text} <code>${s.scope}</code></li>`)}</ul>` : html`<p>${values.clientName} asks to know who you are.</p>`}
<p>You can withdraw this later; the app then loses access.</p>
<form method="post" action="/consent">
${hidden(form)}
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>`,
  }
}

export function signoutPage(
  form: FormContext,
  values: { email: string | null; postLogoutRedirect: { clientId: string; uri: string } | null },
): Page {
  return {
    title: 'Sign out',
    formActionOrigins: form.formActionOrigins ?? [],
    body: html`<h1>Sign out</h1>
${values.email ? html`<p>You are signed in as <strong>${values.email}</strong>.</p>` : html`<p>You are not signed in.</p>`}
<form method="post" action="/signout">
${hidden(form)}
${values.postLogoutRedirect ? html`<input type="hidden" name="client_id" value="${values.postLogoutRedirect.clientId}"><input type="hidden" name="post_logout_redirect_uri" value="${values.postLogoutRedirect.uri}">` : ''}
<button type="submit">Sign out</button>
</form>`,
  }
}
