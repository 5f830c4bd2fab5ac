import { parseArgs } from 'node:util'
import { systemClock } from '../clock.js'
import type { Db } from '../db/database.js'
import { viewClient } from '../clients/client.js'
import { deleteClient, listClients } from '../clients/client.store.js'
import { ClientRegistrationError, createClient } from '../clients/create-client.js'
import { CliError, printJson, printTable } from './output.js'

export async function clientsCommand(args: string[], ctx: { db: Db }): Promise<void> {
  const [sub, ...rest] = args
  if (sub === 'create') return createCommand(rest, ctx)
  if (sub === 'list') return listCommand(rest, ctx)
  if (sub === 'delete') return deleteCommand(rest, ctx)
  throw new CliError('usage: latchkey clients create|list|delete')
}

async function createCommand(args: string[], { db }: { db: Db }): Promise<void> {
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
      json: { type: 'boolean', default: false },
    },
  })
  if (values.name === undefined) throw new CliError('clients create needs --name NAME')
  const isPublic = values.public
  try {
    const { client, secret } = await createClient(
      { db, clock: systemClock },
      {
        name: values.name,
        type: isPublic ? 'public' : 'confidential',
        grantTypes: values.grant ?? (isPublic ? ['authorization_code', 'refresh_token'] : ['client_credentials']),
        scopes: values.scope.split(/\s+/).filter(Boolean),
        audiences: values.audience ?? [],
        redirectUris: values['redirect-uri'] ?? [],
        firstParty: values['first-party'],
      },
    )
    const view = { ...viewClient(client), ...(secret === null ? {} : { client_secret: secret }) }
    if (values.json) return printJson(view)
    printTable(
      [
        {
          ...view,
          first_party: String(view.first_party),
          grant_types: view.grant_types.join(','),
          audiences: view.audiences.join(','),
          redirect_uris: view.redirect_uris.join(','),
        },
      ],
      ['client_id', 'name', 'type', 'grant_types', 'scope', 'audiences'],
    )
    if (secret !== null)
      console.log(`\nclient_secret: ${secret}\nStore it now: it is shown only once and Latchkey keeps only a hash.`)
  } catch (error) {
    if (error instanceof ClientRegistrationError) throw new CliError(error.message)
    throw error
  }
}

async function listCommand(args: string[], { db }: { db: Db }): Promise<void> {
  const { values } = parseArgs({ args, strict: true, options: { json: { type: 'boolean', default: false } } })
  const clients = (await listClients(db)).map(viewClient)
  if (values.json) return printJson(clients)
  printTable(
    clients.map((c) => ({
      ...c,
      first_party: String(c.first_party),
      grant_types: c.grant_types.join(','),
      audiences: c.audiences.join(','),
      redirect_uris: c.redirect_uris.join(','),
    })),
    ['client_id', 'name', 'type', 'grant_types', 'scope', 'audiences', 'created_at'],
  )
}

async function deleteCommand(args: string[], { db }: { db: Db }): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false } },
  })
  const [id] = positionals
  if (id === undefined || positionals.length !== 1) throw new CliError('usage: latchkey clients delete CLIENT_ID')
  if (!(await deleteClient(db, id))) throw new CliError(`no client with id ${id}`)
  if (values.json) return printJson({ deleted: id })
  console.log(`deleted client ${id}; running servers stop accepting it within 5 seconds`)
}
