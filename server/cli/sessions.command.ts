import { parseArgs } from 'node:util'
import type { Logger } from 'pino'
import { systemClock } from '../clock.js'
import type { Config } from '../config.js'
import type { Db } from '../db/database.js'
import type { AdminDeps } from '../admin/admin-actor.js'
import { listSessionsOfUser, revokeSessionAsAdmin } from '../admin/session-admin.js'
import { findUserByEmailForAdmin } from '../admin/user-admin.js'
import { CliError, printJson, printTable } from './output.js'

type Ctx = { config: Config; db: Db; log: Logger }
const adminDeps = (ctx: Ctx): AdminDeps => ({ ...ctx, clock: systemClock })

export async function sessionsCommand(args: string[], ctx: Ctx): Promise<void> {
  const [sub, ...rest] = args
  if (sub === 'list') return listCommand(rest, ctx)
  if (sub === 'revoke') return revokeCommand(rest, ctx)
  throw new CliError('usage: latchkey sessions list --user EMAIL | sessions revoke SESSION_ID')
}

async function listCommand(args: string[], ctx: Ctx): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: { user: { type: 'string' }, json: { type: 'boolean', default: false } },
  })
  if (values.user === undefined) throw new CliError('usage: latchkey sessions list --user EMAIL')
  const deps = adminDeps(ctx)
  const sessions = await listSessionsOfUser(deps, (await findUserByEmailForAdmin(deps, values.user)).id)
  if (values.json) return printJson(sessions)
  printTable(
    sessions.map((s) => ({
      id: s.id,
      client_id: s.client_id,
      created_at: s.created_at,
      last_used_at: s.last_used_at,
      expires_at: s.expires_at,
      revoked_at: s.revoked_at ?? '',
      ip: s.ip ?? '',
    })),
    ['id', 'client_id', 'created_at', 'last_used_at', 'expires_at', 'revoked_at', 'ip'],
  )
}

async function revokeCommand(args: string[], ctx: Ctx): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false } },
  })
  if (positionals.length !== 1) throw new CliError('usage: latchkey sessions revoke SESSION_ID')
  const result = await revokeSessionAsAdmin(adminDeps(ctx), { kind: 'cli' }, positionals[0]!)
  if (values.json) return printJson(result)
  console.log(`revoked session ${result.revoked}; it is in the revocation feed`)
}
