import { html } from '../pages/html.js'
import type { Page } from '../pages/send-page.js'

/** What the logout confirmation form carries back: the app's request, checked again on submit. */
export interface LogoutRequestFields {
  clientId: string | null
  postLogoutRedirectUri: string | null
  state: string | null
}

/** OIDC RP-Initiated Logout 1.0 §2 / §6: a request without id_token_hint is confirmed by the user. */
export function logoutConfirmPage(
  form: { csrf: string; formActionOrigins: string[] },
  values: { email: string | null; clientName: string | null; request: LogoutRequestFields },
): Page {
  const field = (name: string, value: string | null) =>
    value === null ? '' : html`<input type="hidden" name="${name}" value="${value}">`
  const { request } = values
  return {
    title: 'Sign out',
    formActionOrigins: form.formActionOrigins,
    body: html`<h1>Sign out?</h1>
${values.clientName ? html`<p><strong>${values.clientName}</strong> asks to sign you out.</p>` : ''}
${values.email ? html`<p>You are signed in as <strong>${values.email}</strong>. Signing out also signs you out of the apps you opened with this sign-in.</p>` : html`<p>You are not signed in.</p>`}
<form method="post" action="/oauth/logout/confirm">
<input type="hidden" name="csrf" value="${form.csrf}">
${field('client_id', request.clientId)}${field('post_logout_redirect_uri', request.postLogoutRedirectUri)}${field('state', request.state)}
<button type="submit">Sign out</button>
</form>`,
  }
}
