// One Latchkey instance's key lifecycle in its own process, for the multi-instance tests: opens
// the keystore (which performs any due step) at the time given, then prints the active kid.
import { pino } from 'pino'
import { keysDb } from '../../server/db/database.js'
import { openKeystore } from '../../keys/keystore.js'
import { loadConfig, type DatabaseConfig } from '../../server/config.js'
import { createDb } from '../../server/db/create-db.js'
import { migrateToLatest } from '../../server/db/migrate.js'

const database = JSON.parse(process.env.TEST_INSTANCE_DATABASE!) as DatabaseConfig
const at = Number(process.env.TEST_INSTANCE_TIME)
const config = { ...loadConfig({ LATCHKEY_KEK: process.env.TEST_INSTANCE_KEK, LOG_LEVEL: 'silent' }), database }
const db = createDb(database)
await migrateToLatest(db)
const keystore = await openKeystore({
  db: keysDb(db),
  config,
  kek: config.kek!,
  log: pino({ level: 'silent' }),
  clock: { now: () => at },
})
console.log(JSON.stringify({ activeKid: keystore.activeKid() }))
keystore.close()
await db.destroy()
