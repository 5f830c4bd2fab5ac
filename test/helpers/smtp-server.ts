import { SMTPServer } from 'smtp-server'
import { freePort } from './free-port.js'
import type { Tap } from './test-database.js'

export interface ReceivedMail {
  /** Whether the session that delivered it was encrypted. */
  secure: boolean
  user: string | null
  from: string
  to: string[]
  raw: string
  subject: string
  messageId: string
  text: string
  html: string
}

export interface TestSmtpServer {
  port: number
  /** SMTP_URL for Latchkey. */
  url: string
  messages: ReceivedMail[]
  /** Starts accepting connections (servers are made stopped, to test a mail server that is down). */
  start(): Promise<void>
  stop(): Promise<void>
}

/** A real SMTP server in this process (the `smtp-server` package) that keeps what it receives. */
export interface SmtpServerOptions {
  started?: boolean
  rejectRecipient?: (address: string) => boolean
  /** TLS from the first byte (smtps://) with this key and certificate. */
  secure?: { key: string; cert: string }
  /** Offer STARTTLS with this key and certificate. */
  starttls?: { key: string; cert: string }
  /** Require these credentials; sessions record who signed in. */
  auth?: { user: string; pass: string }
}

export async function createSmtpServer(t: Tap, options: SmtpServerOptions = {}): Promise<TestSmtpServer> {
  const port = await freePort()
  const messages: ReceivedMail[] = []
  let server: SMTPServer | null = null
  const stop = () =>
    new Promise<void>((resolve) => {
      const running = server
      server = null
      if (running) running.close(() => resolve())
      else resolve()
    })
  const start = () =>
    new Promise<void>((resolve, reject) => {
      server = new SMTPServer({
        authOptional: options.auth === undefined,
        // Without a certificate the tests cover delivery, not TLS.
        disabledCommands: options.starttls || options.secure ? [] : ['STARTTLS'],
        ...(options.secure ? { secure: true, key: options.secure.key, cert: options.secure.cert } : {}),
        ...(options.starttls ? { key: options.starttls.key, cert: options.starttls.cert } : {}),
        logger: false,
        onAuth(auth, _session, callback) {
          if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass)
            return callback(null, { user: auth.username })
          callback(new Error('invalid credentials'))
        },
        onRcptTo(address, _session, callback) {
          if (options.rejectRecipient?.(address.address)) {
            const error = Object.assign(new Error('mailbox unavailable'), { responseCode: 550 })
            return callback(error)
          }
          callback()
        },
        onData(stream, session, callback) {
          const chunks: Buffer[] = []
          stream.on('data', (c: Buffer) => chunks.push(c))
          stream.on('end', () => {
            const raw = Buffer.concat(chunks).toString('utf8')
            messages.push({
              ...parseMessage(raw),
              raw,
              secure: session.secure,
              user: typeof session.user === 'string' ? session.user : null,
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
            })
            callback()
          })
        },
      })
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        // Once listening, a client vanishing mid-session (a killed Latchkey) is a connection
        // error, as on a real mail server, not a crash of the test.
        server?.off('error', reject)
        server?.on('error', () => {})
        resolve()
      })
    })
  t.teardown(stop)
  if (options.started !== false) await start()
  return { port, url: `smtp://127.0.0.1:${port}`, messages, start, stop }
}

// Just enough MIME reading to assert on what nodemailer built: headers, and the text/plain and
// text/html parts with quoted-printable or base64 undone.

function splitHeaders(raw: string): { headers: Map<string, string>; body: string } {
  const at = raw.search(/\r?\n\r?\n/)
  const head = at < 0 ? raw : raw.slice(0, at)
  const body = at < 0 ? '' : raw.slice(at).replace(/^\r?\n\r?\n/, '')
  const headers = new Map<string, string>()
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
  }
  return { headers, body }
}

function decodeBody(body: string, encoding: string | undefined): string {
  if (encoding?.toLowerCase() === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
  if (encoding?.toLowerCase() === 'quoted-printable') {
    const bytes = body
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    return Buffer.from(bytes, 'latin1').toString('utf8')
  }
  return body
}

function decodeWords(text: string): string {
  return text.replace(/=\?utf-8\?([QB])\?([^?]*)\?=\s*/gi, (_m, kind: string, data: string) =>
    kind.toUpperCase() === 'B'
      ? Buffer.from(data, 'base64').toString('utf8')
      : Buffer.from(
          data
            .replace(/_/g, ' ')
            .replace(/=([0-9A-F]{2})/gi, (_n, hex: string) => String.fromCharCode(parseInt(hex, 16))),
          'latin1',
        ).toString('utf8'),
  )
}

function parseMessage(raw: string): Omit<ReceivedMail, 'raw' | 'from' | 'to' | 'secure' | 'user'> {
  const { headers, body } = splitHeaders(raw)
  const parts: Record<string, string> = {}
  const collect = (headersOf: Map<string, string>, content: string) => {
    const type = headersOf.get('content-type') ?? 'text/plain'
    const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1]
    if (boundary) {
      for (const piece of content.split(`--${boundary}`).slice(1)) {
        if (piece.startsWith('--')) break
        const part = splitHeaders(piece.replace(/^\r?\n/, ''))
        collect(part.headers, part.body)
      }
      return
    }
    const kind = type.split(';')[0]!.trim().toLowerCase()
    parts[kind] = decodeBody(content, headersOf.get('content-transfer-encoding'))
  }
  collect(headers, body)
  return {
    subject: decodeWords(headers.get('subject') ?? ''),
    messageId: headers.get('message-id') ?? '',
    text: parts['text/plain'] ?? '',
    html: parts['text/html'] ?? '',
  }
}

/** The first link to `page` in a message's text part. */
export function linkIn(mail: ReceivedMail, page: string): URL {
  const match = new RegExp(`https?://\\S*${page}\\S*`).exec(mail.text)
  if (!match) throw new Error(`no ${page} link in: ${mail.text}`)
  return new URL(match[0])
}
