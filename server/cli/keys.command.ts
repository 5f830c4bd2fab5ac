import { keysDb } from '../db/database.js'
import { parseArgs } from 'node:util'
import type { Logger } from 'pino'
import { rotateNow } from '../../keys/key-lifecycle.js'
import { loadKek } from '../../keys/kek.js'
import { findAllKeys } from '../../keys/signing-key.store.js'
import { openKeystore } from '../../keys/keystore.js'
import { systemClock } from '../clock.js'
import type { Config } from '../config.js'
import type { Db } from '../db/database.js'
import { CliError, isoOrEmpty, printJson, printTable } from './output.js'

export async function keysCommand(args: string[], ctx: { config: Config; db: Db; log: Logger }): Promise<void> {
  const [sub, ...rest] = args
  if (sub === 'list') return listKeys(rest, ctx)
  if (sub === 'rotate') return rotateKeys(rest, ctx)
  throw new CliError('usage: latchkey keys list|rotate [--revoke-current] [--json]')
}

async function listKeys(args: string[], { db }: { db: Db }): Promise<void> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } }, strict: true })
  const keys = (await findAllKeys(keysDb(db))).map((k) => ({
    kid: k.kid,
    alg: k.alg,
    state: k.state,
    created_at: isoOrEmpty(k.created_at),
    activated_at: isoOrEmpty(k.activated_at),
    retired_at: isoOrEmpty(k.retired_at),
    published_until: isoOrEmpty(k.publish_until),
    removed_at: isoOrEmpty(k.removed_at),
  }))
  if (values.json) return printJson(keys)
  printTable(keys, ['kid', 'alg', 'state', 'created_at', 'activated_at', 'retired_at', 'published_until', 'removed_at'])
}

async function rotateKeys(args: string[], { config, db, log }: { config: Config; db: Db; log: Logger }): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { json: { type: 'boolean', default: false }, 'revoke-current': { type: 'boolean', default: false } },
    strict: true,
  })
  const kek = loadKek(config, log)
  // Opening the keystore proves the KEK and creates the first keys on an empty database.
  const keystore = await openKeystore({ db: keysDb(db), config, kek, log, clock: systemClock })
  keystore.close()
  const result = await rotateNow({ db: keysDb(db), config, kek, log }, systemClock.now(), {
    revokeCurrent: values['revoke-current'],
  })
  if (values.json) return printJson(result)
  console.log(`active key is now ${result.activated}`)
  if (result.retired) {
    console.log(
      result.revoked
        ? `revoked ${result.retired}: it left the JWKS and its tokens no longer verify`
        : `retired ${result.retired}: it stays in the JWKS until its tokens have expired`,
    )
  }
  if (result.publishedBriefly)
    console.log(
      'note: the new key was published only recently; verifiers holding a cached JWKS will refetch it when they first see its kid',
    )
  console.log(`running servers pick the change up within seconds`)
}
