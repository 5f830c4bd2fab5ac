import t from 'tap'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { browserHeaders, login, nextClientIp, registerUser, sessionCookieOf } from '../helpers/users.js'
import { RETENTION_BATCH_SIZE, runMaintenance } from '../../server/maintenance.js'
import { insertAuditEvent } from '../../server/audit/audit-event.store.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const WEEKS = 9

const tables = ['refresh_tokens', 'sessions', 'audit_events'] as const
type Counts = Record<(typeof tables)[number], number>

async function countRows(testApp: TestApp): Promise<Counts> {
  const counts = {} as Counts
  for (const table of tables) {
    const row = await testApp.deps.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirstOrThrow()
    counts[table] = Number(row.n)
  }
  return counts
}

for (const dialect of testDialects()) {
  t.test(`retention on ${dialect}`, async (t) => {
    t.test('tables stay bounded while a client refreshes every 6 hours for nine simulated weeks', async (t) => {
      const testApp = await buildTestApp(t, {
        dialect,
        env: {
          LATCHKEY_AUDIT_RETENTION: '14d',
          LATCHKEY_ARGON2_MEMORY_KIB: '8192',
          LATCHKEY_ARGON2_TIME_COST: '1',
        },
      })
      await registerUser(testApp, 'loop@example.com')
      let cookie = (await login(testApp, 'loop@example.com')).cookie
      const seen: Counts[] = []
      let relogins = 0
      let refreshes = 0
      for (let day = 1; day <= WEEKS * 7; day++) {
        for (let quarter = 0; quarter < 4; quarter++) {
          testApp.clock.advance(6 * HOUR)
          const res = await testApp.app.inject({
            method: 'POST',
            url: '/auth/refresh',
            headers: browserHeaders(cookie),
            remoteAddress: nextClientIp(),
          })
          if (res.statusCode === 200) {
            cookie = sessionCookieOf(res.headers['set-cookie'])
            refreshes++
          } else {
            // The session reached its absolute lifetime (30 days): sign in again, as an app would.
            t.equal(res.statusCode, 401, `day ${day}: only an expired session is refused`)
            cookie = (await login(testApp, 'loop@example.com')).cookie
            relogins++
          }
        }
        // Someone guesses at another account every day: an audit event each time.
        await testApp.app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email: 'nobody@example.com', password: 'a wrong password, every day' },
          remoteAddress: nextClientIp(),
        })
        await runMaintenance(testApp.deps)
        seen.push(await countRows(testApp))
      }
      t.ok(refreshes > 240, `the client refreshed ${refreshes} times`)
      t.equal(relogins, 2, 'the session lived its 30 days twice, then the client signed in again')
      const lastWeeks = seen.slice(-3 * 7)
      const max = (table: keyof Counts) => Math.max(...lastWeeks.map((c) => c[table]))
      // Idle TTL 7 days at four rotations a day: the used tokens of the last week, and the live one.
      t.ok(max('refresh_tokens') <= 7 * 4 + 5, `refresh_tokens at most ${max('refresh_tokens')}`)
      // The live session, and an expired one kept until its last access token has expired.
      t.ok(max('sessions') <= 2, `sessions at most ${max('sessions')}`)
      // 14 days of retention at about two events a day.
      t.ok(max('audit_events') <= 15 * 2 + 2, `audit_events at most ${max('audit_events')}`)
      t.ok(seen.at(-1)!.audit_events > 0, 'recent audit events are kept')

      const scrape = await testApp.app.inject('/metrics')
      const purged = (table: string) =>
        Number(
          new RegExp(`^latchkey_retention_purged_rows_total\\{table="${table}"\\} (\\d+)$`, 'm').exec(scrape.body)?.[1],
        )
      t.ok(purged('refresh_tokens') >= refreshes - (7 * 4 + 5), 'the purged rows are counted')
      t.ok(purged('audit_events') > 0)
    })

    t.test('a backlog larger than a batch is purged batch by batch, within one run', async (t) => {
      const testApp = await buildTestApp(t, { dialect, env: { LATCHKEY_AUDIT_RETENTION: '1d' } })
      const old = testApp.clock.now() - 2 * DAY
      const backlog = RETENTION_BATCH_SIZE * 2 + 17
      for (let i = 0; i < backlog; i++) await insertAuditEvent(testApp.deps.db, { event: 'login.failed' }, old + i)
      await insertAuditEvent(testApp.deps.db, { event: 'login.succeeded' }, testApp.clock.now())
      const deletesBefore = deleteStatements(await testApp.app.inject('/metrics'))
      const purged = await runMaintenance(testApp.deps)
      t.equal(purged.audit_events, backlog)
      t.same(await testApp.deps.db.selectFrom('audit_events').select('event').execute(), [{ event: 'login.succeeded' }])
      const deletes = deleteStatements(await testApp.app.inject('/metrics')) - deletesBefore
      // Three batches for the audit events, one (empty) statement for each other table.
      t.equal(deletes, 3 + 9, 'one DELETE per batch')
    })
  })
}

function deleteStatements(res: { body: string }): number {
  return Number(
    /^latchkey_db_query_duration_seconds_count\{kind="delete",result="ok"\} (\d+)$/m.exec(res.body)?.[1] ?? 0,
  )
}
