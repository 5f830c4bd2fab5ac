import { html } from './html.js'
import type { Page } from './send-page.js'

/** A page with one message, for outcomes and errors of every hosted page. */
export function messagePage(title: string, message: string, status = 200, link?: { href: string; text: string }): Page {
  return {
    title,
    status,
    body: html`<h1>${title}</h1>
<p${status >= 400 ? html` class="error" role="alert"` : ''}>${message}</p>
${link ? html`<p><a href="${link.href}">${link.text}</a></p>` : ''}`,
  }
}

/** A form whose CSRF token does not match this browser's cookie (expired, or posted from elsewhere). */
export function expiredFormPage(): Page {
  return messagePage(
    'Please try again',
    'This form expired or was opened in another way. Go back, reload the page and submit it again.',
    403,
  )
}

/** An error description ("the email or password is incorrect") as a sentence for a page. */
export function asSentence(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? '' : '.'}`
}
