import { parseArgs } from 'node:util'
import type { Logger } from 'pino'
import { systemClock } from '../clock.js'
import type { Config } from '../config.js'
import type { Db } from '../db/database.js'
import type { AdminDeps } from '../admin/admin-actor.js'
import { queryAuditEvents } from '../admin/audit-admin.js'
import { findUserByEmailForAdmin } from '../admin/user-admin.js'
import { CliError, printJson, printTable } from './output.js'

type Ctx = { config: Config; db: Db; log: Logger }

export async function auditCommand(args: string[], ctx: Ctx): Promise<void> {
  const [sub, ...rest] = args
  if (sub !== 'list')
    throw new CliError('usage: latchkey audit list [--type TYPE] [--user EMAIL] [--since 1h] [--limit N] [--cursor C]')
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: {
      type: { type: 'string' },
      user: { type: 'string' },
      since: { type: 'string' },
      limit: { type: 'string', default: '100' },
      cursor: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  })
  const deps: AdminDeps = { ...ctx, clock: systemClock }
  const userId = values.user === undefined ? undefined : (await findUserByEmailForAdmin(deps, values.user)).id
  const page = await queryAuditEvents(
    deps,
    {
      ...(values.type !== undefined ? { type: values.type } : {}),
      ...(userId !== undefined ? { userId } : {}),
      ...(values.since !== undefined ? { since: values.since } : {}),
    },
    { limit: values.limit, ...(values.cursor !== undefined ? { cursor: values.cursor } : {}) },
  )
  // The next page's cursor goes to stderr, so stdout stays one JSON array (or one table) either way.
  if (page.next_cursor !== null) console.error(`more: add --cursor ${page.next_cursor}`)
  if (values.json) return printJson(page.items)
  printTable(
    page.items.map((e) => ({
      created_at: e.created_at,
      type: e.type,
      user_id: e.user_id ?? '',
      client_id: e.client_id ?? '',
      details: JSON.stringify(e.details),
    })),
    ['created_at', 'type', 'user_id', 'client_id', 'details'],
  )
}
