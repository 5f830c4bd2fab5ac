import path from 'node:path'
import { statSync } from 'node:fs'
import t from 'tap'
import { sql } from 'kysely'
import { startWalCheckpointer, type WalCheckpointResult } from '../../server/db/wal-checkpointer.js'
import { buildTestApp, registerClient } from '../helpers/build-test-app.js'

async function autocheckpointPages(db: Parameters<typeof startWalCheckpointer>[0]['db']): Promise<number> {
  const { rows } = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(db)
  return rows[0]!.wal_autocheckpoint
}

t.test('a worker thread checkpoints the WAL while the serving connection never does', async (t) => {
  const testApp = await buildTestApp(t)
  if (testApp.database.dialect !== 'sqlite') throw new Error('expected SQLite')
  const file = testApp.database.file
  const checkpoints: WalCheckpointResult[] = []
  let sawCopy!: () => void
  const copied = new Promise<void>((resolve) => (sawCopy = resolve))
  const checkpointer = await startWalCheckpointer(testApp.deps, file, {
    intervalMs: 20,
    onCheckpoint: (result) => {
      checkpoints.push(result)
      if (result.checkpointed > 0) sawCopy()
    },
  })
  t.equal(await autocheckpointPages(testApp.deps.db), 0, 'commits on the serving connection no longer checkpoint')
  for (let i = 0; i < 20; i++) await registerClient(testApp, { name: `client ${i}` })
  t.ok(statSync(`${file}-wal`).size > 0, 'writes went to the WAL')
  await copied
  const last = checkpoints.at(-1)!
  t.equal(last.busy, 0, 'a passive checkpoint was not blocked')
  t.ok(last.checkpointed > 0, 'pages were copied into the database file')
  await checkpointer.stop()
  t.equal(await autocheckpointPages(testApp.deps.db), 1000, 'after stopping, commits checkpoint again')
})

t.test('a checkpointer that cannot start leaves automatic checkpoints on and logs why', async (t) => {
  const logLines: string[] = []
  const testApp = await buildTestApp(t, { logLines })
  const checkpointer = await startWalCheckpointer(testApp.deps, path.join(testApp.dataDir, 'missing', 'nowhere.db'), {
    intervalMs: 20,
  })
  await checkpointer.exited
  t.equal(await autocheckpointPages(testApp.deps.db), 1000)
  t.ok(
    logLines.some((line) => JSON.parse(line).event === 'db.checkpointer_failed'),
    'the failure is logged',
  )
})
