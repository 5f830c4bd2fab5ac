import type { Selectable } from 'kysely'

export type MailTemplate =
  | 'verify_email'
  | 'password_reset'
  | 'registration_attempt'
  | 'password_changed'
  | 'mfa_added'
  | 'mfa_removed'
  | 'recovery_code_used'
  | 'passkey_added'
  | 'passkey_removed'

type OutboxStatus = 'pending' | 'sent' | 'failed' | 'discarded'

/** One email to send: what and about whom, never a secret (tokens are minted when it is composed). */
export interface OutboxTable {
  id: string
  template: MailTemplate
  /** The account the mail is about (verification, notices). */
  user_id: string | null
  /** The canonical address given in a request (password reset), known to belong to an account or not. */
  email: string | null
  status: OutboxStatus
  created_at: number
  next_attempt_at: number
  /** Attempts started, counted when a worker claims the row. */
  attempts: number
  /** A worker holds the row until then; after it, another may take it over (the holder crashed). */
  claimed_until: number | null
  finished_at: number | null
  /** JSON object of facts the mail states that cannot be looked up later (recovery codes left); never a secret. */
  details: string | null
  /** Why the last attempt failed: an SMTP code or error name, never message content. */
  last_error: string | null
}

export type OutboxRow = Selectable<OutboxTable>
