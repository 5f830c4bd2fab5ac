import { parseArgs } from 'node:util'
import { systemClock } from '../clock.js'
import type { Config } from '../config.js'
import type { Db } from '../db/database.js'
import type { Logger } from 'pino'
import { viewClient, type ClientView } from '../clients/client.js'
import {
  createClientAsAdmin,
  deleteClientAsAdmin,
  findClientForAdmin,
  listClientsPage,
  rotateClientSecret,
  updateClientAsAdmin,
} from '../admin/client-admin.js'
import type { AdminDeps } from '../admin/admin-actor.js'
import { CliError, printJson, printTable } from './output.js'

type Ctx = { config: Config; db: Db; log: Logger }
const cli = { kind: 'cli' } as const
const adminDeps = (ctx: Ctx): AdminDeps => ({ ...ctx, clock: systemClock })

export async function clientsCommand(args: string[], ctx: Ctx): Promise<void> {
  const [sub, ...rest] = args
  if (sub === 'create') return createCommand(rest, ctx)
  if (sub === 'list') return listCommand(rest, ctx)
  if (sub === 'show') return showCommand(rest, ctx)
  if (sub === 'update') return updateCommand(rest, ctx)
  if (sub === 'rotate-secret') return rotateCommand(rest, ctx)
  if (sub === 'delete') return deleteCommand(rest, ctx)
  throw new CliError('usage: latchkey clients create|list|show|update|rotate-secret|delete')
}

function printClients(clients: ClientView[]): void {
  printTable(
    clients.map((c) => ({
      ...c,
      first_party: String(c.first_party),
      require_mfa: String(c.require_mfa),
      grant_types: c.grant_types.join(','),
      audiences: c.audiences.join(','),
      redirect_uris: c.redirect_uris.join(','),
    })),
    ['client_id', 'name', 'type', 'grant_types', 'scope', 'audiences', 'created_at'],
  )
}

async function createCommand(args: string[], ctx: Ctx): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      name: { type: 'string' },
      grant: { type: 'string', multiple: true },
      scope: { type: 'string', default: '' },
      audience: { type: 'string', multiple: true },
      'redirect-uri': { type: 'string', multiple: true },
      public: { type: 'boolean', default: false },
      'first-party': { type: 'boolean', default: false },
      'require-mfa': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  })
  if (values.name === undefined) throw new CliError('clients create needs --name NAME')
  const isPublic = values.public
  const view = await createClientAsAdmin(adminDeps(ctx), cli, {
    name: values.name,
    type: isPublic ? 'public' : 'confidential',
    grantTypes: values.grant ?? (isPublic ? ['authorization_code', 'refresh_token'] : ['client_credentials']),
    scopes: values.scope.split(/\s+/).filter(Boolean),
    audiences: values.audience ?? [],
    redirectUris: values['redirect-uri'] ?? [],
    firstParty: values['first-party'],
    requireMfa: values['require-mfa'],
  })
  if (values.json) return printJson(view)
  printClients([view])
  if (view.client_secret !== undefined)
    console.log(
      `\nclient_secret: ${view.client_secret}\nStore it now: it is shown only once and Latchkey keeps only a hash.`,
    )
}

async function listCommand(args: string[], ctx: Ctx): Promise<void> {
  const { values } = parseArgs({ args, strict: true, options: { json: { type: 'boolean', default: false } } })
  const clients: ClientView[] = []
  let cursor: string | null = null
  do {
    const page = await listClientsPage(adminDeps(ctx), { ...(cursor ? { cursor } : {}), limit: 200 })
    clients.push(...page.items)
    cursor = page.next_cursor
  } while (cursor !== null)
  if (values.json) return printJson(clients)
  printClients(clients)
}

function oneId(
  args: string[],
  usage: string,
  options: Record<string, { type: 'boolean' | 'string'; multiple?: boolean }>,
) {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, ...options },
  })
  if (positionals.length !== 1) throw new CliError(`usage: latchkey ${usage}`)
  return { id: positionals[0]!, values: values as Record<string, unknown> }
}

async function showCommand(args: string[], ctx: Ctx): Promise<void> {
  const { id, values } = oneId(args, 'clients show CLIENT_ID', {})
  const view = viewClient(await findClientForAdmin(adminDeps(ctx), id))
  if (values.json === true) return printJson(view)
  printClients([view])
}

async function updateCommand(args: string[], ctx: Ctx): Promise<void> {
  const { id, values } = oneId(
    args,
    'clients update CLIENT_ID [--name NAME] [--scope "a b"] [--redirect-uri URI]… [--audience AUD]… [--require-mfa|--no-require-mfa]',
    {
      name: { type: 'string' },
      'require-mfa': { type: 'boolean' },
      'no-require-mfa': { type: 'boolean' },
      scope: { type: 'string' },
      audience: { type: 'string', multiple: true },
      'redirect-uri': { type: 'string', multiple: true },
    },
  )
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
  const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : undefined)
  const changes = {
    ...(str(values.name) !== undefined ? { name: str(values.name)! } : {}),
    ...(str(values.scope) !== undefined ? { scopes: str(values.scope)!.split(/\s+/).filter(Boolean) } : {}),
    ...(list(values.audience) ? { audiences: list(values.audience)! } : {}),
    ...(list(values['redirect-uri']) ? { redirectUris: list(values['redirect-uri'])! } : {}),
    ...(values['require-mfa'] === true ? { requireMfa: true } : {}),
    ...(values['no-require-mfa'] === true ? { requireMfa: false } : {}),
  }
  if (values['require-mfa'] === true && values['no-require-mfa'] === true)
    throw new CliError('clients update takes --require-mfa or --no-require-mfa, not both')
  if (Object.keys(changes).length === 0) throw new CliError('clients update needs something to change')
  const view = await updateClientAsAdmin(adminDeps(ctx), cli, id, changes)
  if (values.json === true) return printJson(view)
  printClients([view])
}

async function rotateCommand(args: string[], ctx: Ctx): Promise<void> {
  const { id, values } = oneId(args, 'clients rotate-secret CLIENT_ID [--revoke-old]', {
    'revoke-old': { type: 'boolean' },
  })
  const rotated = await rotateClientSecret(adminDeps(ctx), cli, id, { revokeOld: values['revoke-old'] === true })
  if (values.json === true) return printJson(rotated)
  console.log(`client_secret: ${rotated.client_secret}\nStore it now: it is shown only once.`)
  console.log(
    rotated.previous_secret_expires_at === null
      ? 'the old secret no longer works (running servers stop accepting it within 5 seconds)'
      : `the old secret works until ${rotated.previous_secret_expires_at}`,
  )
}

async function deleteCommand(args: string[], ctx: Ctx): Promise<void> {
  const { id, values } = oneId(args, 'clients delete CLIENT_ID', {})
  const result = await deleteClientAsAdmin(adminDeps(ctx), cli, id)
  if (values.json === true) return printJson(result)
  console.log(
    `deleted client ${id}; revoked ${result.sessions_revoked} session(s); its tokens are cut off and running servers stop accepting it within 5 seconds`,
  )
}
