import type { Deps } from '../deps.js'
import { drainQueue, retryDelayMs, startQueueWorker, type QueueWorker } from '../db/outbox-queue.js'
import { renderMail } from './mail-templates.js'
import { claimDueMail, finishMail, purgeFinishedMail, scheduleMailRetry } from './outbox.store.js'
import type { OutboxRow } from './outbox.table.js'

/**
 * A worker holds a claimed row this long: above the SMTP timeouts (mailer.ts), so only a crashed
 * worker loses a row, and short, so a crashed worker's rows go out soon after a restart.
 */
export const CLAIM_LEASE_MS = 30_000
const BATCH_SIZE = 10
/** Retried with back-off (30 s, 1 min, 2 min … capped at 1 h: retryDelayMs), given up after this many. */
export const MAX_ATTEMPTS = 10
/** Finished rows stay this long for operators to look at. */
const KEEP_FINISHED_MS = 7 * 86_400_000

export type DeliveryDeps = Pick<Deps, 'db' | 'clock' | 'config' | 'log' | 'mailer' | 'composeMail' | 'metrics'>

export interface DeliveryReport {
  sent: number
  retrying: number
  failed: number
  discarded: number
}

/**
 * Sends every message that is due, batch by batch, until none is left. Safe to run on several
 * instances at once (each row is claimed by one). Tests call it directly with a moved clock;
 * `serve` runs it on a timer through startOutboxWorker.
 */
export async function deliverDueMessages(deps: DeliveryDeps, signal?: AbortSignal): Promise<DeliveryReport> {
  const report: DeliveryReport = { sent: 0, retrying: 0, failed: 0, discarded: 0 }
  await drainQueue(
    () => claimDueMail(deps.db, deps.clock.now(), CLAIM_LEASE_MS, BATCH_SIZE),
    async (row) => {
      const outcome = await deliverOne(deps, row)
      report[outcome]++
      deps.metrics.mailDeliveries.inc({ outcome })
    },
    signal,
  )
  return report
}

async function deliverOne(deps: DeliveryDeps, row: OutboxRow): Promise<keyof DeliveryReport> {
  try {
    const composed = await deps.composeMail(row)
    if (composed === null) {
      await finishMail(deps.db, row.id, 'discarded', deps.clock.now())
      return 'discarded'
    }
    const rendered = renderMail(deps.config, composed.content)
    await deps.mailer.send({
      ...rendered,
      from: deps.config.mailFrom,
      to: composed.to,
      messageId: `<${row.id}@${new URL(deps.config.publicUrl).hostname}>`,
    })
    await finishMail(deps.db, row.id, 'sent', deps.clock.now())
    deps.log.info({ event: 'mail.sent', outboxId: row.id, template: row.template, attempt: row.attempts }, 'email sent')
    return 'sent'
  } catch (error) {
    return recordFailure(deps, row, error)
  }
}

/** The log names the row, the template and the error code, never the recipient, the message or its link. */
async function recordFailure(deps: DeliveryDeps, row: OutboxRow, error: unknown): Promise<keyof DeliveryReport> {
  const reason = describeError(error)
  const now = deps.clock.now()
  // RFC 5321 §4.2.1: a 5yz reply to this message's envelope or content is permanent; resending it
  // cannot succeed. Refused credentials or TLS are the server set-up's fault, not the message's:
  // those wait for the operator to fix SMTP_URL, like an unreachable server.
  const permanent =
    reason.responseCode !== undefined &&
    reason.responseCode >= 500 &&
    (reason.code === 'EENVELOPE' || reason.code === 'EMESSAGE')
  if (permanent || row.attempts >= MAX_ATTEMPTS) {
    await finishMail(deps.db, row.id, 'failed', now, reason.text)
    deps.log.error(
      { event: 'mail.failed', outboxId: row.id, template: row.template, attempt: row.attempts, error: reason.text },
      'email could not be delivered; giving up',
    )
    return 'failed'
  }
  const retryAt = now + retryDelayMs(row.attempts)
  await scheduleMailRetry(deps.db, row.id, retryAt, reason.text)
  deps.log.warn(
    {
      event: 'mail.retry',
      outboxId: row.id,
      template: row.template,
      attempt: row.attempts,
      retryAt: new Date(retryAt).toISOString(),
      error: reason.text,
    },
    'email delivery failed; will retry',
  )
  return 'retrying'
}

/** An error code and SMTP reply code only: a server's reply text may quote the recipient. */
function describeError(error: unknown): { text: string; code: string; responseCode?: number } {
  if (typeof error !== 'object' || error === null) return { text: 'unknown error', code: 'unknown' }
  const { code, responseCode, name } = error as { code?: unknown; responseCode?: unknown; name?: unknown }
  const label = (typeof code === 'string' ? code : typeof name === 'string' ? name : 'Error').slice(0, 40)
  if (typeof responseCode !== 'number') return { text: label, code: label }
  return { text: `${label} ${responseCode}`, code: label, responseCode }
}

/** Runs deliverDueMessages every `intervalMs` (never two at once) and purges old finished rows. */
export function startOutboxWorker(deps: DeliveryDeps, intervalMs: number): QueueWorker {
  let lastPurge = 0
  return startQueueWorker(
    intervalMs,
    async (signal) => {
      await deliverDueMessages(deps, signal)
      if (deps.clock.now() - lastPurge > 3_600_000) {
        lastPurge = deps.clock.now()
        await purgeFinishedMail(deps.db, lastPurge - KEEP_FINISHED_MS)
      }
    },
    (error) => deps.log.error({ event: 'mail.worker_failed', err: error }, 'outbox worker failed'),
  )
}
