import path from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import t from 'tap'
import { freePort } from '../helpers/free-port.js'
import { createSmtpServer, linkIn } from '../helpers/smtp-server.js'
import { provisionDatabase, testDialects, testDirOf } from '../helpers/test-database.js'

// The bar: zero lost messages across a kill -9 of the server during a burst of 200 password
// resets. A real `latchkey serve` child process, a real SMTP server in this process.

const repoRoot = path.resolve(import.meta.dirname, '../..')
const ACCOUNTS = 200
const PASSWORD = 'a burst test passphrase 2026'

async function startServe(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'server/cli/main.ts'), 'serve'], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  for (let i = 0; i < 200; i++) {
    if (
      await fetch(`http://127.0.0.1:${env.PORT}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return child
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill('SIGKILL')
  throw new Error('latchkey serve did not become ready')
}

/** Runs `work` over the items with `concurrency` in flight. */
async function inParallel<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++]!)
    }),
  )
}

for (const dialect of testDialects()) {
  t.test(`no reset mail is lost when the server is killed (-9) mid-burst, on ${dialect}`, async (t) => {
    const smtp = await createSmtpServer(t)
    const dataDir = testDirOf(t)
    const database = await provisionDatabase(t, dialect, dataDir)
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const env = {
      PORT: String(port),
      LATCHKEY_DATA_DIR: dataDir,
      DATABASE_URL: database.dialect === 'postgres' ? database.url : `sqlite:${database.file}`,
      SMTP_URL: smtp.url,
      LATCHKEY_RATE_LIMITS: 'false',
      LOG_LEVEL: 'warn',
      // Registering 200 accounts is set-up, not the subject: cheap hashes keep it short.
      LATCHKEY_ARGON2_MEMORY_KIB: '8192',
      LATCHKEY_ARGON2_TIME_COST: '1',
    }
    let child = await startServe(env)
    t.teardown(() => child.kill('SIGKILL'))

    const emails = Array.from({ length: ACCOUNTS }, (_, i) => `burst${i}@example.com`)
    await inParallel(emails, 8, async (email) => {
      const res = await fetch(`${base}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: PASSWORD }),
      })
      if (res.status !== 202) throw new Error(`register ${email}: ${res.status}`)
    })

    const accepted = new Set<string>()
    const reset = async (email: string) => {
      const res = await fetch(`${base}/auth/password-reset`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email }),
      }).catch(() => null)
      if (res?.status === 202) accepted.add(email)
    }
    // The burst: 20 in flight; once 60 are answered the server is killed with requests in flight.
    let killed = false
    await inParallel(emails, 20, async (email) => {
      await reset(email)
      if (!killed && accepted.size >= 60) {
        killed = true
        child.kill('SIGKILL')
      }
    })
    t.ok(killed, 'killed mid-burst')
    const beforeRestart = accepted.size
    t.ok(beforeRestart < ACCOUNTS, `${beforeRestart} of ${ACCOUNTS} answered 202 before the kill`)
    if (child.exitCode === null && child.signalCode === null)
      await new Promise((resolve) => child.once('exit', resolve))

    child = await startServe(env)
    await inParallel(
      emails.filter((e) => !accepted.has(e)),
      20,
      reset,
    )
    t.equal(accepted.size, ACCOUNTS, 'the rest of the burst answered after the restart')

    const resetMailsTo = () => smtp.messages.filter((m) => m.subject === 'Reset your Latchkey password')
    // Rows the killed process had claimed go out once its claim lease (30 s) has passed.
    for (let i = 0; i < 600 && new Set(resetMailsTo().map((m) => m.to[0])).size < accepted.size; i++)
      await new Promise((r) => setTimeout(r, 100))
    const mails = resetMailsTo()
    const received = new Set(mails.map((m) => m.to[0]))
    t.same(
      [...accepted].filter((e) => !received.has(e)),
      [],
      'every accepted request got its mail: zero lost',
    )
    const byMessageId = new Map<string, number>()
    for (const m of mails) byMessageId.set(m.messageId, (byMessageId.get(m.messageId) ?? 0) + 1)
    t.equal(byMessageId.size, received.size, 'one outbox row per address')
    const duplicates = mails.length - byMessageId.size
    // A message the SMTP server accepted just before the kill, not yet marked sent, goes out again
    // with the same Message-ID: at most the batch in flight (10).
    t.ok(duplicates <= 10, `only messages in flight at the kill may be resent, with their Message-ID (${duplicates})`)
    for (const m of mails) t.match(linkIn(m, '/reset-password').searchParams.get('token'), /^[A-Za-z0-9_-]{43}$/)
  })
}
