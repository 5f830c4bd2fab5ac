import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { buildTestApp } from '../helpers/build-test-app.js'
import { createSmtpServer } from '../helpers/smtp-server.js'
import { testDirOf } from '../helpers/test-database.js'
import { registerUser } from '../helpers/users.js'
import { deliverDueMessages } from '../../server/mail/deliver-outbox.js'

// The SMTP_URL forms operators use, against a real SMTP server with a throw-away certificate
// (trusted here through nodemailer's tls.rejectUnauthorized=false URL option, as a test only).

function certificate(dir: string): { key: string; cert: string } {
  const key = path.join(dir, 'key.pem')
  const cert = path.join(dir, 'cert.pem')
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-subj',
      '/CN=127.0.0.1',
      '-days',
      '1',
    ],
    { stdio: 'ignore' },
  )
  return { key: fs.readFileSync(key, 'utf8'), cert: fs.readFileSync(cert, 'utf8') }
}

t.test('smtps:// with credentials in the URL: TLS from the first byte, signed in', async (t) => {
  const tls = certificate(testDirOf(t))
  const smtp = await createSmtpServer(t, { secure: tls, auth: { user: 'mailer', pass: 'p@ss word' } })
  const testApp = await buildTestApp(t, {
    env: {
      SMTP_URL: `smtps://mailer:${encodeURIComponent('p@ss word')}@127.0.0.1:${smtp.port}?tls.rejectUnauthorized=false`,
    },
  })
  await registerUser(testApp, 'tls@example.com')
  t.same(await deliverDueMessages(testApp.deps), { sent: 1, retrying: 0, failed: 0, discarded: 0 })
  t.match(smtp.messages, [{ secure: true, user: 'mailer', to: ['tls@example.com'] }])
})

t.test('smtp:// upgrades with STARTTLS, and ?requireTLS=true refuses a server without it', async (t) => {
  const tls = certificate(testDirOf(t))
  const starttls = await createSmtpServer(t, { starttls: tls })
  const upgraded = await buildTestApp(t, {
    env: { SMTP_URL: `${starttls.url}?requireTLS=true&tls.rejectUnauthorized=false` },
  })
  await registerUser(upgraded, 'starttls@example.com')
  t.same(await deliverDueMessages(upgraded.deps), { sent: 1, retrying: 0, failed: 0, discarded: 0 })
  t.match(starttls.messages, [{ secure: true, to: ['starttls@example.com'] }])

  const plain = await createSmtpServer(t)
  const strict = await buildTestApp(t, { env: { SMTP_URL: `${plain.url}?requireTLS=true` } })
  await registerUser(strict, 'plain@example.com')
  t.same(
    await deliverDueMessages(strict.deps),
    { sent: 0, retrying: 1, failed: 0, discarded: 0 },
    'not sent in the clear',
  )
  t.equal(plain.messages.length, 0)
})

t.test('wrong credentials are retried later, and the password never reaches the log', async (t) => {
  const smtp = await createSmtpServer(t, { secure: certificate(testDirOf(t)), auth: { user: 'mailer', pass: 'right' } })
  const logLines: string[] = []
  const testApp = await buildTestApp(t, {
    env: { SMTP_URL: `smtps://mailer:wrong-secret@127.0.0.1:${smtp.port}?tls.rejectUnauthorized=false` },
    logLines,
  })
  await registerUser(testApp, 'auth@example.com')
  t.same(await deliverDueMessages(testApp.deps), { sent: 0, retrying: 1, failed: 0, discarded: 0 })
  t.match(logLines.join(''), /"event":"mail.retry".*"error":"EAUTH/)
  t.notMatch(logLines.join(''), 'wrong-secret')
})
