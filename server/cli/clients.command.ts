import { readFile } from 'node:fs/promises'
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
      require_dpop: String(c.require_dpop),
      introspection: String(c.introspection),
      require_mfa: String(c.require_mfa),
      grant_types: c.grant_types.join(','),
      audiences: c.audiences.join(','),
      redirect_uris: c.redirect_uris.join(','),
      jwks_uri: c.jwks_uri ?? '',
      jwks: c.jwks === null ? '' : `${c.jwks.keys.length} key(s)`,
      post_logout_redirect_uris: c.post_logout_redirect_uris.join(','),
      backchannel_logout_uri: c.backchannel_logout_uri ?? '',
    })),
    ['client_id', 'name', 'type', 'token_endpoint_auth_method', 'grant_types', 'scope', 'audiences', 'created_at'],
  )
}

/** --jwks-uri URL or --jwks-file PATH: the keys of a private_key_jwt client (RFC 7523 §2.2). */
async function readKeyOptions(values: Record<string, unknown>): Promise<{ jwksUri?: string; jwks?: unknown }> {
  const uri = values['jwks-uri']
  const file = values['jwks-file']
  if (typeof uri === 'string' && typeof file === 'string') throw new CliError('give either --jwks-uri or --jwks-file')
  if (typeof uri === 'string') return { jwksUri: uri }
  if (typeof file !== 'string') return {}
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    throw new CliError(`cannot read the JWKS file ${file}`)
  }
  try {
    return { jwks: JSON.parse(text) as unknown }
  } catch {
    throw new CliError(`the JWKS file ${file} is not JSON`)
  }
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
      'jwks-uri': { type: 'string' },
      'jwks-file': { type: 'string' },
      'require-dpop': { type: 'boolean', default: false },
      introspect: { type: 'boolean', default: false },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      'backchannel-logout-uri': { type: 'string' },
      'require-mfa': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  })
  if (values.name === undefined) throw new CliError('clients create needs --name NAME')
  const keys = await readKeyOptions(values)
  const isPublic = values.public
  const view = await createClientAsAdmin(adminDeps(ctx), cli, {
    name: values.name,
    type: isPublic ? 'public' : 'confidential',
    grantTypes: values.grant ?? (isPublic ? ['authorization_code', 'refresh_token'] : ['client_credentials']),
    scopes: values.scope.split(/\s+/).filter(Boolean),
    audiences: values.audience ?? [],
    redirectUris: values['redirect-uri'] ?? [],
    firstParty: values['first-party'],
    ...keys,
    requireDpop: values['require-dpop'],
    introspection: values.introspect,
    postLogoutRedirectUris: values['post-logout-redirect-uri'] ?? [],
    backchannelLogoutUri: values['backchannel-logout-uri'] ?? null,
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
  // The id comes first. Client ids are base64url and may start with "-", which parseArgs would take
  // for an option, so it is taken off before the options are parsed.
  const [id, ...rest] = args
  if (id === undefined || id.startsWith('--')) throw new CliError(`usage: latchkey ${usage}`)
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, ...options },
  })
  if (positionals.length !== 0) throw new CliError(`usage: latchkey ${usage}`)
  return { id, values: values as Record<string, unknown> }
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
    'clients update CLIENT_ID [--name NAME] [--scope "a b"] [--redirect-uri URI]… [--audience AUD]… [--jwks-uri URL | --jwks-file PATH] [--require-dpop|--no-require-dpop] [--introspect|--no-introspect] [--post-logout-redirect-uri URI]… [--backchannel-logout-uri URL|--no-backchannel-logout] [--require-mfa|--no-require-mfa] [--revoke-old]',
    {
      name: { type: 'string' },
      'require-mfa': { type: 'boolean' },
      'no-require-mfa': { type: 'boolean' },
      scope: { type: 'string' },
      audience: { type: 'string', multiple: true },
      'redirect-uri': { type: 'string', multiple: true },
      'jwks-uri': { type: 'string' },
      'jwks-file': { type: 'string' },
      'require-dpop': { type: 'boolean' },
      'no-require-dpop': { type: 'boolean' },
      introspect: { type: 'boolean' },
      'no-introspect': { type: 'boolean' },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      'backchannel-logout-uri': { type: 'string' },
      'no-backchannel-logout': { type: 'boolean' },
      'revoke-old': { type: 'boolean' },
    },
  )
  if (values.introspect === true && values['no-introspect'] === true)
    throw new CliError('clients update takes --introspect or --no-introspect, not both')
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
  const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : undefined)
  const changes = {
    ...(str(values.name) !== undefined ? { name: str(values.name)! } : {}),
    ...(str(values.scope) !== undefined ? { scopes: str(values.scope)!.split(/\s+/).filter(Boolean) } : {}),
    ...(list(values.audience) ? { audiences: list(values.audience)! } : {}),
    ...(list(values['redirect-uri']) ? { redirectUris: list(values['redirect-uri'])! } : {}),
    ...(await readKeyOptions(values)),
    ...(values['require-dpop'] === true ? { requireDpop: true } : {}),
    ...(values['no-require-dpop'] === true ? { requireDpop: false } : {}),
    ...(values.introspect === true ? { introspection: true } : {}),
    ...(values['no-introspect'] === true ? { introspection: false } : {}),
    ...(list(values['post-logout-redirect-uri'])
      ? { postLogoutRedirectUris: list(values['post-logout-redirect-uri'])! }
      : {}),
    ...(str(values['backchannel-logout-uri']) !== undefined
      ? { backchannelLogoutUri: str(values['backchannel-logout-uri'])! }
      : {}),
    ...(values['no-backchannel-logout'] === true ? { backchannelLogoutUri: null } : {}),
    ...(values['require-mfa'] === true ? { requireMfa: true } : {}),
    ...(values['no-require-mfa'] === true ? { requireMfa: false } : {}),
  }
  if (values['require-mfa'] === true && values['no-require-mfa'] === true)
    throw new CliError('clients update takes --require-mfa or --no-require-mfa, not both')
  if (Object.keys(changes).length === 0) throw new CliError('clients update needs something to change')
  const view = await updateClientAsAdmin(adminDeps(ctx), cli, id, changes, {
    revokeOld: values['revoke-old'] === true,
  })
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
