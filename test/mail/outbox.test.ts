import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { createSmtpServer, linkIn } from '../helpers/smtp-server.js'
import { testDialects } from '../helpers/test-database.js'
import { nextClientIp, registerUser } from '../helpers/users.js'
import { CLAIM_LEASE_MS, MAX_ATTEMPTS, deliverDueMessages } from '../../server/mail/deliver-outbox.js'
import { retryDelayMs } from '../../server/db/outbox-queue.js'
import { claimDueMail } from '../../server/mail/outbox.store.js'

async function requestReset(testApp: TestApp, email: string) {
  return testApp.app.inject({
    method: 'POST',
    url: '/auth/password-reset',
    payload: { email },
    remoteAddress: nextClientIp(),
  })
}

async function statusesOf(testApp: TestApp): Promise<string[]> {
  const rows = await testApp.deps.db.selectFrom('outbox').select('status').orderBy('created_at').execute()
  return rows.map((r) => r.status)
}

for (const dialect of testDialects()) {
  t.test(`outbox on ${dialect}`, async (t) => {
    t.test('SMTP down: the API still answers 202, and the message goes out once the server is back', async (t) => {
      const smtp = await createSmtpServer(t, { started: false })
      const logLines: string[] = []
      const testApp = await buildTestApp(t, { dialect, env: { SMTP_URL: smtp.url }, logLines })
      await registerUser(testApp, 'down@example.com')
      const res = await requestReset(testApp, 'down@example.com')
      t.equal(res.statusCode, 202)

      const first = await deliverDueMessages(testApp.deps)
      t.same(
        first,
        { sent: 0, retrying: 2, failed: 0, discarded: 0 },
        'the verification and the reset mail wait for a retry',
      )
      const retryLines = logLines.filter((l) => l.includes('"event":"mail.retry"'))
      t.equal(retryLines.length, 2)
      t.match(retryLines[0], /"error":"(ESOCKET|ECONNECTION)"/)
      for (const line of logLines) {
        t.notMatch(line, 'down@example.com', 'no address in the log')
        t.notMatch(line, /token=/, 'no link in the log')
      }

      await smtp.start()
      t.same(
        await deliverDueMessages(testApp.deps),
        { sent: 0, retrying: 0, failed: 0, discarded: 0 },
        'nothing is due before the back-off ends',
      )
      testApp.clock.advance(retryDelayMs(1) + 1)
      t.same(await deliverDueMessages(testApp.deps), { sent: 2, retrying: 0, failed: 0, discarded: 0 })
      t.equal(smtp.messages.filter((m) => m.subject === 'Reset your Latchkey password').length, 1)
      testApp.clock.advance(3_600_000)
      await deliverDueMessages(testApp.deps)
      t.equal(smtp.messages.length, 2, 'nothing is sent twice')
      const token = linkIn(
        smtp.messages.find((m) => m.subject.startsWith('Reset'))!,
        '/reset-password',
      ).searchParams.get('token')!
      const logs = logLines.join('\n')
      t.notMatch(logs, token, 'the token never reaches the log')
    })

    t.test('a crash between commit and send: the next start delivers it, once', async (t) => {
      const smtp = await createSmtpServer(t)
      const first = await buildTestApp(t, { dialect, env: { SMTP_URL: smtp.url } })
      await registerUser(first, 'crash@example.com')
      t.equal((await requestReset(first, 'crash@example.com')).statusCode, 202)
      await first.close()
      t.equal(smtp.messages.length, 0)

      const second = await buildTestApp(t, {
        dialect,
        database: first.database,
        dataDir: first.dataDir,
        env: { SMTP_URL: smtp.url },
      })
      await deliverDueMessages(second.deps)
      await deliverDueMessages(second.deps)
      t.same(smtp.messages.map((m) => m.subject).sort(), [
        'Reset your Latchkey password',
        'Verify your email address for Latchkey',
      ])
    })

    t.test('a worker that dies while sending: after its lease another instance sends the message', async (t) => {
      const smtp = await createSmtpServer(t)
      const testApp = await buildTestApp(t, { dialect, env: { SMTP_URL: smtp.url } })
      await registerUser(testApp, 'lease@example.com')
      const claimed = await claimDueMail(testApp.deps.db, testApp.clock.now(), CLAIM_LEASE_MS, 10)
      t.equal(claimed.length, 1, 'claimed by a worker that then crashes')
      t.same(
        await deliverDueMessages(testApp.deps),
        { sent: 0, retrying: 0, failed: 0, discarded: 0 },
        'held while the lease lasts',
      )
      testApp.clock.advance(CLAIM_LEASE_MS + 1)
      t.same(await deliverDueMessages(testApp.deps), { sent: 1, retrying: 0, failed: 0, discarded: 0 })
      t.equal(smtp.messages.length, 1)
    })

    t.test('workers delivering at once send every message exactly once', async (t) => {
      const smtp = await createSmtpServer(t)
      const one = await buildTestApp(t, { dialect, env: { SMTP_URL: smtp.url } })
      // Two instances on PostgreSQL. Two SQLite connections in one thread cannot share the file
      // (a synchronous busy wait blocks the very event loop the lock holder needs), so on SQLite
      // the workers race inside one instance; across processes SQLite's own lock orders them.
      const two =
        dialect === 'postgres'
          ? await buildTestApp(t, {
              dialect,
              database: one.database,
              dataDir: one.dataDir,
              env: { SMTP_URL: smtp.url },
              clock: one.clock,
            })
          : one
      for (let i = 0; i < 30; i++) await registerUser(i % 2 === 0 ? one : two, `many${i}@example.com`)
      const reports = await Promise.all([
        deliverDueMessages(one.deps),
        deliverDueMessages(two.deps),
        deliverDueMessages(one.deps),
        deliverDueMessages(two.deps),
      ])
      t.equal(
        reports.reduce((n, r) => n + r.sent, 0),
        30,
      )
      const recipients = smtp.messages.map((m) => m.to[0]).sort()
      t.equal(recipients.length, 30)
      t.equal(new Set(recipients).size, 30, 'no duplicates')
      t.same(new Set(smtp.messages.map((m) => m.messageId)).size, 30, 'one Message-ID per row')
    })

    t.test('a permanent refusal (5xx) is not retried, and logged without address or message', async (t) => {
      const smtp = await createSmtpServer(t, { rejectRecipient: (address) => address === 'bounce@example.com' })
      const logLines: string[] = []
      const testApp = await buildTestApp(t, { dialect, env: { SMTP_URL: smtp.url }, logLines })
      await registerUser(testApp, 'bounce@example.com')
      t.same(await deliverDueMessages(testApp.deps), { sent: 0, retrying: 0, failed: 1, discarded: 0 })
      t.same(await statusesOf(testApp), ['failed'])
      const line = logLines.find((l) => l.includes('"event":"mail.failed"'))!
      t.match(line, /"error":"EENVELOPE 550"/)
      t.notMatch(line, 'bounce@example.com')
    })

    t.test(`a message still failing after ${MAX_ATTEMPTS} attempts is given up`, async (t) => {
      const smtp = await createSmtpServer(t, { started: false })
      const testApp = await buildTestApp(t, { dialect, env: { SMTP_URL: smtp.url } })
      await registerUser(testApp, 'never@example.com')
      for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
        t.same(await deliverDueMessages(testApp.deps), { sent: 0, retrying: 1, failed: 0, discarded: 0 })
        testApp.clock.advance(retryDelayMs(attempt))
      }
      t.same(await deliverDueMessages(testApp.deps), { sent: 0, retrying: 0, failed: 1, discarded: 0 })
      t.same(await statusesOf(testApp), ['failed'])
    })

    t.test('without SMTP_URL the message lands as an .eml in DATA_DIR/outbox and the log says where', async (t) => {
      const logLines: string[] = []
      const testApp = await buildTestApp(t, { dialect, logLines })
      await registerUser(testApp, 'local@example.com')
      await deliverDueMessages(testApp.deps)
      const dir = path.join(testApp.dataDir, 'outbox')
      const files = fs.readdirSync(dir)
      t.equal(files.length, 1)
      t.match(files[0], /\.eml$/)
      const eml = fs.readFileSync(path.join(dir, files[0]!), 'utf8')
      t.match(eml, /^To: local@example\.com$/m)
      t.match(eml, /^Subject: Verify your email address for Latchkey$/m)
      t.match(eml, /http:\/\/localhost:3000\/verify-email\?token=/)
      t.equal(fs.statSync(path.join(dir, files[0]!)).mode & 0o777, 0o600, 'readable by the owner only')
      t.ok(logLines.some((l) => l.includes('"event":"mail.written"') && l.includes(path.join(dir, files[0]!))))
    })
  })
}
