import type { Config } from '../config.js'
import { formatDuration } from '../config.js'
import { html, type Html } from '../pages/html.js'

/** What a message says, with the facts it needs; links are built by accountLink, never from a request. */
export type MailContent =
  | { template: 'verify_email'; link: string; validForMs: number }
  | { template: 'password_reset'; link: string; validForMs: number }
  | { template: 'registration_attempt'; resetLink: string }
  | { template: 'password_changed'; resetLink: string }
  | { template: 'mfa_added'; resetLink: string }
  | { template: 'mfa_removed'; resetLink: string; byOperator: boolean }
  | { template: 'recovery_code_used'; remaining: number; resetLink: string }
  | { template: 'passkey_added' | 'passkey_removed'; securityLink: string; resetLink: string }

export interface RenderedMail {
  subject: string
  text: string
  html: string
}

/**
 * A link to one of Latchkey's own pages, from LATCHKEY_PUBLIC_URL (the issuer by default), never
 * from the Host header of the request that caused the mail. The one-time token is the only
 * secret ever put in a URL.
 */
export function accountLink(
  config: Pick<Config, 'publicUrl'>,
  page: '/verify-email' | '/reset-password' | '/account/security',
  token?: string,
): string {
  const url = new URL(`${config.publicUrl}${page}`)
  if (token !== undefined) url.searchParams.set('token', token)
  return url.href
}

function validity(ms: number): string {
  const text = formatDuration(ms)
  const units: Record<string, string> = { d: 'day', h: 'hour', m: 'minute', s: 'second' }
  const count = Number(text.slice(0, -1))
  const unit = units[text.slice(-1)]!
  return `${count} ${unit}${count === 1 ? '' : 's'}`
}

interface Parts {
  subject: string
  /** Paragraphs before the button. */
  lead: string[]
  action?: { label: string; link: string }
  /** Paragraphs after it. */
  tail: string[]
}

function partsOf(product: string, content: MailContent): Parts {
  switch (content.template) {
    case 'verify_email':
      return {
        subject: `Verify your email address for ${product}`,
        lead: [`Please confirm that this is your email address for your ${product} account.`],
        action: { label: 'Verify my email address', link: content.link },
        tail: [
          `The link works once and expires in ${validity(content.validForMs)}.`,
          `If you did not create a ${product} account, ignore this email.`,
        ],
      }
    case 'password_reset':
      return {
        subject: `Reset your ${product} password`,
        lead: [
          `Someone asked to reset the password of your ${product} account. If it was you, choose a new password here:`,
        ],
        action: { label: 'Choose a new password', link: content.link },
        tail: [
          `The link works once and expires in ${validity(content.validForMs)}. Requesting another link makes this one stop working.`,
          'If you did not ask for this, ignore this email: your password stays as it is.',
        ],
      }
    case 'registration_attempt':
      return {
        subject: `Someone tried to register with your email address at ${product}`,
        lead: [
          `Someone tried to create a ${product} account with this email address, which already has an account. No new account was created and nothing about yours changed.`,
        ],
        tail: [
          `If it was you and you forgot your password, you can reset it: ${content.resetLink}`,
          'If it was not you, you can ignore this email.',
        ],
      }
    case 'password_changed':
      return {
        subject: `Your ${product} password was changed`,
        lead: [
          `The password of your ${product} account was just changed, and every device signed in to it was signed out.`,
        ],
        tail: [`If this was not you, reset your password now: ${content.resetLink}`],
      }
    case 'mfa_added':
      return {
        subject: `Two-step sign-in was turned on for your ${product} account`,
        lead: [
          `An authenticator app was just added to your ${product} account: signing in now takes a code from it after the password.`,
        ],
        tail: [`If this was not you, reset your password now and contact support: ${content.resetLink}`],
      }
    case 'mfa_removed':
      return {
        subject: `Two-step sign-in was turned off for your ${product} account`,
        lead: [
          content.byOperator
            ? `An administrator removed the authenticator app, recovery codes and passkeys from your ${product} account, and every device signed in to it was signed out. Your password alone now signs you in; you can set up an authenticator app again on your account security page.`
            : `The authenticator app and recovery codes were removed from your ${product} account. Your password alone now signs you in.`,
        ],
        tail: [`If this was not you, reset your password now: ${content.resetLink}`],
      }
    case 'recovery_code_used':
      return {
        subject: `A recovery code was used to sign in to ${product}`,
        lead: [
          `Someone signed in to your ${product} account with one of your recovery codes. ${
            content.remaining === 1 ? '1 unused code is' : `${content.remaining} unused codes are`
          } left.`,
          content.remaining <= 3
            ? 'Make new recovery codes on your account security page before you run out.'
            : 'Each code works once; you can make new ones on your account security page.',
        ],
        tail: [`If this was not you, reset your password now: ${content.resetLink}`],
      }
    case 'passkey_added':
      return {
        subject: `A passkey was added to your ${product} account`,
        lead: [`A new passkey was just added to your ${product} account. It can sign in to your account on its own.`],
        tail: [
          `Your passkeys: ${content.securityLink}`,
          `If this was not you, remove it there and reset your password now: ${content.resetLink}`,
        ],
      }
    case 'passkey_removed':
      return {
        subject: `A passkey was removed from your ${product} account`,
        lead: [`A passkey was just removed from your ${product} account. It can no longer sign in.`],
        tail: [
          `Your passkeys: ${content.securityLink}`,
          `If this was not you, reset your password now: ${content.resetLink}`,
        ],
      }
  }
}

/** Plain-text and HTML versions of one message; every value in the HTML is escaped. */
export function renderMail(config: Pick<Config, 'productName'>, content: MailContent): RenderedMail {
  const parts = partsOf(config.productName, content)
  const text =
    [...parts.lead, ...(parts.action ? [`${parts.action.link}`] : []), ...parts.tail, `— ${config.productName}`].join(
      '\n\n',
    ) + '\n'
  const paragraphs = (lines: string[]): Html[] => lines.map((line) => html`<p>${line}</p>`)
  const body = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${parts.subject}</title></head>
<body style="font-family:system-ui,sans-serif;line-height:1.5;color:#1b1f24;max-width:32rem">
${paragraphs(parts.lead)}
${
  parts.action
    ? html`<p><a href="${parts.action.link}" style="display:inline-block;padding:.6rem 1rem;background:#2456d3;color:#fff;border-radius:.4rem;text-decoration:none;font-weight:600">${parts.action.label}</a></p>
<p>Or open this address: <br>${parts.action.link}</p>`
    : ''
}
${paragraphs(parts.tail)}
<p>— ${config.productName}</p>
</body></html>`
  return { subject: parts.subject, text, html: body.markup }
}
