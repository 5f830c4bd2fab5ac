import { randomBytes } from 'node:crypto'
import type { FastifyReply } from 'fastify'
import { html, Html } from './html.js'
import { pageStyles } from './page-styles.js'

export interface Page {
  title: string
  /** The page's main content. */
  body: Html
  status?: number
  /**
   * Extra origins a form on this page may submit to, including through a redirect: CSP
   * `form-action` also governs where a form POST may be redirected (e.g. a client's redirect_uri).
   */
  formActionOrigins?: string[]
  /** Inline scripts are never needed: pages work without JavaScript. Set only for a progressive enhancement. */
  script?: string
  /** Same-origin script files the inline script uses (e.g. the WebAuthn browser library), loaded before it. */
  scriptSources?: string[]
}

/**
 * Sends a whole HTML document with a per-response nonce-based CSP: no third-party assets, inline
 * style and (optional) script allowed only through the nonce, never framed, no referrer leaks the
 * token-bearing URL.
 */
export function sendPage(reply: FastifyReply, page: Page): FastifyReply {
  const nonce = randomBytes(16).toString('base64')
  const formAction = ["'self'", ...(page.formActionOrigins ?? [])].join(' ')
  const csp = [
    "default-src 'none'",
    `style-src 'nonce-${nonce}'`,
    page.script ? `script-src 'nonce-${nonce}'` : '',
    // A page's script talks only to Latchkey itself (e.g. for WebAuthn options).
    page.script ? "connect-src 'self'" : '',
    "img-src 'self' data:",
    `form-action ${formAction}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ]
    .filter(Boolean)
    .join('; ')
  const document = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${page.title} · Latchkey</title>
<style nonce="${nonce}">${pageStyles}</style>
</head>
<body>
<main>
${page.body}
</main>
${page.script ? (page.scriptSources ?? []).map((src) => html`<script nonce="${nonce}" src="${src}"></script>`) : ''}
${page.script ? html`<script nonce="${nonce}">${new Html(page.script)}</script>` : ''}
</body>
</html>`
  return reply
    .code(page.status ?? 200)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', csp)
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .send(document.markup)
}
