import { Worker } from 'node:worker_threads'
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

// Polls: the checkpointer's own timer does not keep the process alive.
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10))
}

t.test('a worker thread checkpoints the WAL while the serving connection never does', async (t) => {
  const testApp = await buildTestApp(t)
  if (testApp.database.dialect !== 'sqlite') throw new Error('expected SQLite')
  const file = testApp.database.file
  const checkpoints: WalCheckpointResult[] = []
  let copied = false
  const checkpointer = await startWalCheckpointer(testApp.deps, file, {
    intervalMs: 20,
    onCheckpoint: (result) => {
      checkpoints.push(result)
      if (result.checkpointed > 0) copied = true
    },
  })
  t.equal(await autocheckpointPages(testApp.deps.db), 0, 'commits on the serving connection no longer checkpoint')
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.notOk(checkpointer.workerRunning(), 'no worker while nothing is written')
  for (let i = 0; i < 20; i++) await registerClient(testApp, { name: `client ${i}` })
  t.ok(statSync(`${file}-wal`).size > 0, 'writes went to the WAL')
  await until(() => copied)
  const last = checkpoints.at(-1)!
  t.equal(last.busy, 0, 'a passive checkpoint was not blocked')
  t.ok(last.checkpointed > 0, 'pages were copied into the database file')
  t.ok(checkpointer.workerRunning(), 'the writes started the worker')
  await checkpointer.stop()
  t.equal(await autocheckpointPages(testApp.deps.db), 1000, 'after stopping, commits checkpoint again')
})

t.test('a checkpointer that cannot start leaves automatic checkpoints on and logs why', async (t) => {
  const logLines: string[] = []
  const testApp = await buildTestApp(t, { logLines })
  const checkpointer = await startWalCheckpointer(testApp.deps, path.join(testApp.dataDir, 'missing', 'nowhere.db'), {
    intervalMs: 20,
  })
  // The worker starts on the first write.
  await registerClient(testApp, { name: 'a write' })
  let ended = false
  void checkpointer.exited.then(() => (ended = true))
  await until(() => ended)
  t.equal(await autocheckpointPages(testApp.deps.db), 1000)
  t.ok(
    logLines.some((line) => JSON.parse(line).event === 'db.checkpointer_failed'),
    'the failure is logged',
  )
})

t.test('the worker stops once nothing is written and starts again on the next write', async (t) => {
  const testApp = await buildTestApp(t)
  if (testApp.database.dialect !== 'sqlite') throw new Error('expected SQLite')
  const checkpointer = await startWalCheckpointer(testApp.deps, testApp.database.file, {
    intervalMs: 20,
    idleStopMs: 100,
  })
  t.teardown(() => checkpointer.stop())
  await registerClient(testApp, { name: 'first' })
  await until(() => checkpointer.workerRunning())
  t.pass('a write started the worker')
  await until(() => !checkpointer.workerRunning())
  t.pass('it stopped once nothing was written')
  t.equal(await autocheckpointPages(testApp.deps.db), 0, 'stopping it for idleness keeps commits from checkpointing')
  await registerClient(testApp, { name: 'second' })
  await until(() => checkpointer.workerRunning())
  t.pass('the next write started it again')
})

// Review finding C1: a stopping worker whose last checkpoint failed while a newer one ran switched
// the checkpointer to "failed", and nothing ever stopped the newer worker.
t.test('a stopping worker that fails leaves the running one in charge, and stop() ends it', async (t) => {
  const logLines: string[] = []
  const testApp = await buildTestApp(t, { logLines })
  if (testApp.database.dialect !== 'sqlite') throw new Error('expected SQLite')
  // Node's own Worker (not Latchkey code): hold the first 'stop' back, as if that worker's final
  // checkpoint were still running when the next write came.
  const held: Worker[] = []
  const postMessage = Worker.prototype.postMessage
  Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker['postMessage']>) {
    if (args[0] === 'stop' && held.length === 0) return void held.push(this)
    return postMessage.apply(this, args)
  }
  t.teardown(() => {
    Worker.prototype.postMessage = postMessage
  })
  let checkpoints = 0
  const checkpointer = await startWalCheckpointer(testApp.deps, testApp.database.file, {
    intervalMs: 20,
    idleStopMs: 100,
    onCheckpoint: () => checkpoints++,
  })
  await registerClient(testApp, { name: 'first' })
  await until(() => checkpointer.workerRunning())
  await until(() => !checkpointer.workerRunning() && held.length === 1)
  await registerClient(testApp, { name: 'second' })
  await until(() => checkpointer.workerRunning())
  held[0]!.emit('error', new Error('the final checkpoint failed'))
  await held[0]!.terminate()
  t.ok(checkpointer.workerRunning(), 'the newer worker goes on checkpointing')
  t.ok(
    logLines.some((line) => JSON.parse(line).event === 'db.checkpointer_park_failed'),
    'the stopping worker’s failure is logged',
  )
  t.notOk(
    logLines.some((line) => JSON.parse(line).event === 'db.checkpointer_failed'),
    'it does not switch the checkpointer off',
  )
  await checkpointer.stop()
  t.notOk(checkpointer.workerRunning(), 'stop() ends the newer worker')
  const after = checkpoints
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(checkpoints, after, 'no checkpoint after stop()')
})
