import type { MailContent } from './mail-templates.js'
import type { OutboxRow } from './outbox.table.js'

/**
 * Turns an outbox row into a message at delivery time, or null when there is nothing to send.
 * The accounts capability supplies it (main.ts wires it in): mail knows how to deliver, not what.
 */
export type ComposeMail = (row: OutboxRow) => Promise<{ to: string; content: MailContent } | null>
