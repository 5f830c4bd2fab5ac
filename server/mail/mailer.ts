import fs from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import type { Config } from '../config.js'

/** A rendered message; nodemailer builds the RFC 5322 / MIME text from it. */
interface OutgoingMail {
  from: string
  to: string
  subject: string
  text: string
  html: string
  /** Stable per outbox row (RFC 5322 §3.6.4), so a receiver can drop a resend after a crash. */
  messageId: string
}

export interface Mailer {
  /** Resolves once the server (or the outbox folder) has accepted the message; rejects otherwise. */
  send(mail: OutgoingMail): Promise<void>
  close(): void
}

// nodemailer holds a few MiB once loaded (its SMTP, MIME and fetch code), and most servers send no
// mail for a long time after they start: it is loaded by the first message, which the outbox worker
// sends off the request path. The module system caches the import.
async function loadNodemailer() {
  return (await import('nodemailer')).default
}

/**
 * The transport, made on the first message and then kept; `close` closes it if it was ever made.
 * A failed load is not kept, so the next message tries again.
 */
function lazyTransport<T extends { close(): void }>(make: () => Promise<T>) {
  let transport: Promise<T> | null = null
  return {
    get(): Promise<T> {
      transport ??= make().catch((error: unknown) => {
        transport = null
        throw error
      })
      return transport
    },
    close(): void {
      void transport?.then(
        (made) => made.close(),
        () => undefined,
      )
    },
  }
}

/** SMTP when SMTP_URL is set; otherwise .eml files in DATA_DIR/outbox/ for local development. */
export function createMailer(config: Pick<Config, 'smtpUrl' | 'dataDir'>, log: Logger): Mailer {
  return config.smtpUrl === null
    ? createFileMailer(path.join(config.dataDir, 'outbox'), log)
    : createSmtpMailer(config.smtpUrl)
}

/**
 * smtp:// upgrades with STARTTLS when the server offers it (add ?requireTLS=true to insist),
 * smtps:// is TLS from the first byte; credentials come from the URL. A small pool keeps
 * connections open between messages; the timeouts bound how long a dead server holds a worker.
 */
function createSmtpMailer(url: string): Mailer {
  const transport = lazyTransport(() =>
    loadNodemailer().then((nodemailer) =>
      nodemailer.createTransport({
        url,
        pool: true,
        maxConnections: 3,
        // Together below the outbox claim lease (30 s), so a live worker never loses its row.
        connectionTimeout: 5_000,
        greetingTimeout: 5_000,
        socketTimeout: 15_000,
      }),
    ),
  )
  return {
    async send(mail) {
      await (await transport.get()).sendMail(mail)
    },
    close() {
      transport.close()
    },
  }
}

/** The embedded default: each message as an .eml file a developer can open, and a log line naming it. */
function createFileMailer(dir: string, log: Logger): Mailer {
  const transport = lazyTransport(() =>
    loadNodemailer().then((nodemailer) =>
      nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' }),
    ),
  )
  return {
    async send(mail) {
      const info = await (await transport.get()).sendMail(mail)
      await fs.mkdir(dir, { recursive: true, mode: 0o700 })
      const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${mail.messageId.replace(/[^A-Za-z0-9-]/g, '').slice(0, 40)}.eml`
      const file = path.join(dir, name)
      // Written whole under a temporary name, then renamed: a reader never sees half a message.
      await fs.writeFile(`${file}.tmp`, info.message as Buffer, { mode: 0o600 })
      await fs.rename(`${file}.tmp`, file)
      log.info({ event: 'mail.written', file, subject: mail.subject }, `email written to ${file}`)
    },
    close() {
      transport.close()
    },
  }
}
