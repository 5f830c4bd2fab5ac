import type { Deps } from '../deps.js'
import { accountLink, type MailContent } from '../mail/mail-templates.js'
import { hasRivalMail } from '../mail/outbox.store.js'
import type { OutboxRow } from '../mail/outbox.table.js'
import { mintAccountToken } from './account-token.store.js'
import { findUserByEmail, findUserById } from './user.store.js'

/** An email verification link lives this long. */
const VERIFICATION_TOKEN_TTL_MS = 48 * 3_600_000
/** At most one "someone tried to register" notice per address in this window, however often someone tries. */
const REGISTRATION_NOTICE_INTERVAL_MS = 3_600_000

function detailsOf(row: OutboxRow): Record<string, string | number> {
  return row.details === null ? {} : (JSON.parse(row.details) as Record<string, string | number>)
}

/**
 * Turns an outbox row into a message at delivery time: finds the account, mints the one-time
 * token the link carries (so no token is ever stored in plain text) and says whom to send it to.
 * Null when there is nothing to send: an unknown address, a disabled account, an address already
 * verified, a newer request for the same link, or a notice already sent within the hour.
 */
export async function composeAccountMail(
  deps: Pick<Deps, 'db' | 'clock' | 'config'>,
  row: OutboxRow,
): Promise<{ to: string; content: MailContent } | null> {
  const now = deps.clock.now()
  const user =
    row.user_id !== null
      ? await findUserById(deps.db, row.user_id)
      : row.email !== null
        ? await findUserByEmail(deps.db, row.email)
        : null
  if (!user || user.disabled) return null
  // Only the newest request for a link is answered (its token replaces the others anyway).
  if (
    (row.template === 'verify_email' || row.template === 'password_reset') &&
    (await hasRivalMail(deps.db, row, 'newer'))
  )
    return null
  switch (row.template) {
    case 'verify_email': {
      if (user.emailVerified) return null
      const token = await mintAccountToken(deps.db, 'email_verification_tokens', {
        userId: user.id,
        email: user.email,
        requestedAt: row.created_at,
        now,
        ttlMs: VERIFICATION_TOKEN_TTL_MS,
      })
      if (token === null) return null
      return {
        to: user.email,
        content: {
          template: 'verify_email',
          link: accountLink(deps.config, '/verify-email', token),
          validForMs: VERIFICATION_TOKEN_TTL_MS,
        },
      }
    }
    case 'password_reset': {
      const token = await mintAccountToken(deps.db, 'password_reset_tokens', {
        userId: user.id,
        email: user.email,
        requestedAt: row.created_at,
        now,
        ttlMs: deps.config.resetTokenTtlMs,
      })
      if (token === null) return null
      return {
        to: user.email,
        content: {
          template: 'password_reset',
          link: accountLink(deps.config, '/reset-password', token),
          validForMs: deps.config.resetTokenTtlMs,
        },
      }
    }
    case 'registration_attempt': {
      if (await hasRivalMail(deps.db, row, 'older', now - REGISTRATION_NOTICE_INTERVAL_MS)) return null
      return {
        to: user.email,
        content: { template: 'registration_attempt', resetLink: accountLink(deps.config, '/reset-password') },
      }
    }
    case 'password_changed':
    case 'mfa_added':
      return {
        to: user.email,
        content: { template: row.template, resetLink: accountLink(deps.config, '/reset-password') },
      }
    case 'mfa_removed':
      return {
        to: user.email,
        content: {
          template: 'mfa_removed',
          resetLink: accountLink(deps.config, '/reset-password'),
          byOperator: detailsOf(row).by === 'operator',
        },
      }
    case 'recovery_code_used':
      return {
        to: user.email,
        content: {
          template: 'recovery_code_used',
          remaining: Number(detailsOf(row).remaining ?? 0),
          resetLink: accountLink(deps.config, '/reset-password'),
        },
      }
    case 'passkey_added':
    case 'passkey_removed':
      return {
        to: user.email,
        content: {
          template: row.template,
          securityLink: accountLink(deps.config, '/account/security'),
          resetLink: accountLink(deps.config, '/reset-password'),
        },
      }
  }
}
