#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig, type Config } from '../config.js'
import { createDb } from '../db/create-db.js'
import { migrateToLatest } from '../db/migrate.js'
import { createLogger } from '../logger.js'
import { clientsCommand } from './clients.command.js'
import { keysCommand } from './keys.command.js'
import { usersCommand } from './users.command.js'
import { CliError, printJson } from './output.js'
import { pino } from 'pino'
import { ApiError, OAuthError } from '../errors.js'
import { sessionsCommand } from './sessions.command.js'
import { auditCommand } from './audit.command.js'

const usage = `usage: latchkey <command> [--json]
  serve                              run the server (what npm start runs)
  migrate                            apply database migrations
  keys list | keys rotate [--revoke-current]
  clients create --name NAME [--grant TYPE]… [--scope "a b"] [--audience AUD]… [--redirect-uri URI]…
                 [--public] [--first-party] [--jwks-uri URL | --jwks-file PATH] [--require-dpop]
                 [--require-mfa] [--introspect] [--post-logout-redirect-uri URI]… [--backchannel-logout-uri URL]
  clients list | clients show ID | clients delete ID
  clients update ID [--name NAME] [--scope "a b"] [--redirect-uri URI]… [--audience AUD]…
                 [--jwks-uri URL | --jwks-file PATH] [--require-dpop | --no-require-dpop]
                 [--require-mfa | --no-require-mfa] [--introspect | --no-introspect]
                 [--post-logout-redirect-uri URI]… [--backchannel-logout-uri URL | --no-backchannel-logout]
                 [--revoke-old (with new keys: void what the old credentials obtained)]
  clients rotate-secret ID [--revoke-old]
  users create --email EMAIL --password-stdin [--name NAME]
  users list [--email PREFIX] [--disabled] | users show EMAIL | users export EMAIL
  users disable EMAIL | users enable EMAIL | users delete EMAIL | users reset-mfa EMAIL
  sessions list --user EMAIL | sessions revoke ID
  audit list [--type TYPE] [--user EMAIL] [--since 1h] [--limit N] [--cursor C]`

/** Admin commands talk to the database directly; they log warnings to stderr so stdout stays parseable. */
async function withDatabase(
  config: Config,
  run: (ctx: {
    config: Config
    db: ReturnType<typeof createDb>
    log: ReturnType<typeof createLogger>
  }) => Promise<void>,
): Promise<void> {
  const log = createLogger(config.logLevel === 'silent' ? 'silent' : 'warn', pino.destination(2))
  const db = createDb(config.database, config.databasePool)
  try {
    await migrateToLatest(db)
    await run({ config, db, log })
  } finally {
    await db.destroy()
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === 'help') {
    console.log(usage)
    return
  }
  const config = loadConfig()
  switch (command) {
    case 'serve':
      // --json is accepted like everywhere else; the server's output is JSON lines already.
      parseArgs({ args: rest, strict: true, options: { json: { type: 'boolean', default: false } } })
      {
        // Loaded here, so the admin commands do not load the whole HTTP app (a third of their start-up).
        const { serve } = await import('../main.js')
        return serve(config, createLogger(config.logLevel))
      }
    case 'migrate':
      return withDatabase(config, async ({ db }) => {
        const { values } = parseArgs({
          args: rest,
          strict: true,
          options: { json: { type: 'boolean', default: false } },
        })
        const applied = await migrateToLatest(db)
        if (values.json) printJson({ applied })
        else console.log(applied.length === 0 ? 'database is up to date' : `applied ${applied.join(', ')}`)
      })
    case 'keys':
      return withDatabase(config, (ctx) => keysCommand(rest, ctx))
    case 'clients':
      return withDatabase(config, (ctx) => clientsCommand(rest, ctx))
    case 'users':
      return withDatabase(config, (ctx) => usersCommand(rest, ctx))
    case 'sessions':
      return withDatabase(config, (ctx) => sessionsCommand(rest, ctx))
    case 'audit':
      return withDatabase(config, (ctx) => auditCommand(rest, ctx))
    default:
      throw new CliError(`unknown command "${command}" (latchkey --help lists them)`)
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  // The admin operations throw the errors the API answers with; their sentence is the message.
  const known =
    error instanceof CliError ||
    error instanceof ApiError ||
    error instanceof OAuthError ||
    error instanceof ConfigError ||
    (error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))
  const message = error instanceof Error ? error.message : String(error)
  console.error(`latchkey: ${known ? message : `failed: ${message}`}`.split('\n').join(' '))
  process.exitCode = 1
})
