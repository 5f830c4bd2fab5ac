import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import type { Logger } from 'pino'
import { systemClock } from '../clock.js'
import type { Config } from '../config.js'
import type { Db } from '../db/database.js'
import { ApiError } from '../errors.js'
import { auditAdminAction, type AdminDeps } from '../admin/admin-actor.js'
import {
  eraseUserAsAdmin,
  exportUser,
  findUserByEmailForAdmin,
  resetMfaAsAdmin,
  searchUsersPage,
  setUserDisabledAsAdmin,
} from '../admin/user-admin.js'
import { viewUser, type UserView } from '../users/user.js'
import { canonicalEmail, isPlausibleEmail } from '../users/email.js'
import { createPasswordHasher } from '../users/password-hasher.js'
import { assertAcceptablePassword, normalizePassword } from '../users/password-policy.js'
import { insertUserIfAbsent } from '../users/user.store.js'
import { CliError, printJson, printTable } from './output.js'

type Ctx = { config: Config; db: Db; log: Logger }
const cli = { kind: 'cli' } as const
const adminDeps = (ctx: Ctx): AdminDeps => ({ ...ctx, clock: systemClock })

export async function usersCommand(args: string[], ctx: Ctx): Promise<void> {
  const [sub, ...rest] = args
  if (sub === 'create') return createUser(rest, ctx)
  if (sub === 'list') return listUsers(rest, ctx)
  if (sub === 'disable') return setDisabled(rest, ctx, true)
  if (sub === 'enable') return setDisabled(rest, ctx, false)
  if (sub === 'delete') return deleteUser(rest, ctx)
  if (sub === 'reset-mfa') return resetMfa(rest, ctx)
  if (sub === 'show') return showUser(rest, ctx)
  if (sub === 'export') return exportUserCommand(rest, ctx)
  throw new CliError(
    'usage: latchkey users create --email EMAIL --password-stdin [--name NAME] | users list [--email PREFIX] [--disabled] | users show|export|disable|enable|delete|reset-mfa EMAIL',
  )
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  // One trailing newline is what `echo` and a terminal add; anything else is part of the password.
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
}

async function createUser(args: string[], { config, db, log }: Ctx): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      email: { type: 'string' },
      name: { type: 'string' },
      'password-stdin': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  })
  if (values.email === undefined || !values['password-stdin'])
    throw new CliError('usage: latchkey users create --email EMAIL --password-stdin [--name NAME]')
  const email = canonicalEmail(values.email)
  if (!isPlausibleEmail(email)) throw new CliError(`"${values.email}" is not a valid email address`)
  const password = await readStdin()
  try {
    assertAcceptablePassword(password, { email, minLength: config.passwordMinLength })
  } catch (error) {
    if (error instanceof ApiError) throw new CliError(error.description)
    throw error
  }
  const hash = await createPasswordHasher({ params: config.argon2 }).hash(normalizePassword(password))
  const now = systemClock.now()
  const id = randomBytes(16).toString('base64url')
  const created = await insertUserIfAbsent(db, {
    id,
    email,
    name: values.name?.trim() || null,
    password_hash: hash,
    email_verified: 0,
    disabled: 0,
    tokens_valid_after: 0,
    created_at: now,
    updated_at: now,
  })
  if (!created) throw new CliError(`a user with email ${email} already exists`)
  await auditAdminAction({ config, db, clock: systemClock, log }, cli, { event: 'user.created_by_admin', userId: id })
  if (values.json)
    return printJson({
      id,
      email,
      name: values.name?.trim() || null,
      email_verified: false,
      created_at: new Date(now).toISOString(),
    })
  console.log(`created user ${id} <${email}>`)
}

function oneEmail(args: string[], usage: string) {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false } },
  })
  if (positionals.length !== 1) throw new CliError(`usage: latchkey ${usage}`)
  return { email: positionals[0]!, json: values.json }
}

async function setDisabled(args: string[], ctx: Ctx, disabled: boolean): Promise<void> {
  const { email, json } = oneEmail(args, `users ${disabled ? 'disable' : 'enable'} EMAIL`)
  const deps = adminDeps(ctx)
  const user = await findUserByEmailForAdmin(deps, email)
  const result = await setUserDisabledAsAdmin(deps, cli, user, disabled)
  if (json) return printJson(result)
  console.log(
    disabled
      ? `disabled ${user.email}; revoked ${result.sessions_revoked} session(s)`
      : `enabled ${user.email}; they can sign in again`,
  )
}

async function showUser(args: string[], ctx: Ctx): Promise<void> {
  const { email, json } = oneEmail(args, 'users show EMAIL')
  const view = viewUser(await findUserByEmailForAdmin(adminDeps(ctx), email))
  if (json) return printJson(view)
  for (const [key, value] of Object.entries(view)) console.log(`${key}: ${value ?? ''}`)
}

/** `latchkey users export EMAIL`: everything stored about the user, as GET /admin/users/:id/export; always JSON. */
async function exportUserCommand(args: string[], ctx: Ctx): Promise<void> {
  const { email } = oneEmail(args, 'users export EMAIL')
  const deps = adminDeps(ctx)
  printJson(await exportUser(deps, cli, await findUserByEmailForAdmin(deps, email)))
}

async function deleteUser(args: string[], ctx: Ctx): Promise<void> {
  const { email, json } = oneEmail(args, 'users delete EMAIL')
  const deps = adminDeps(ctx)
  const result = await eraseUserAsAdmin(deps, cli, await findUserByEmailForAdmin(deps, email))
  if (json) return printJson(result)
  console.log(
    `erased user ${result.deleted}: email, name and password removed; revoked ${result.sessions_revoked} session(s)`,
  )
}

async function listUsers(args: string[], ctx: Ctx): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      email: { type: 'string' },
      disabled: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  })
  const users: UserView[] = []
  let cursor: string | null = null
  do {
    const page = await searchUsersPage(
      adminDeps(ctx),
      {
        ...(values.email !== undefined ? { emailPrefix: values.email } : {}),
        ...(values.disabled ? { disabled: true } : {}),
      },
      { ...(cursor ? { cursor } : {}), limit: 200 },
    )
    users.push(...page.items)
    cursor = page.next_cursor
  } while (cursor !== null)
  if (values.json) return printJson(users)
  printTable(
    users.map((u) => ({
      id: u.id,
      created_at: u.created_at,
      email: u.email ?? '',
      name: u.name ?? '',
      email_verified: String(u.email_verified),
      disabled: String(u.disabled),
    })),
    ['id', 'email', 'name', 'email_verified', 'disabled', 'created_at'],
  )
}

/** `latchkey users reset-mfa EMAIL`: resetMfaAsAdmin (TOTP, recovery codes and passkeys). */
async function resetMfa(args: string[], ctx: Ctx): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false } },
  })
  if (positionals.length !== 1) throw new CliError('usage: latchkey users reset-mfa EMAIL')
  const user = await findUserByEmailForAdmin(adminDeps(ctx), positionals[0]!)
  const reset = await resetMfaAsAdmin(adminDeps(ctx), cli, user)
  if (values.json) return printJson(reset)
  console.log(
    `removed the second factors (${reset.factors_removed.join(', ')}) of ${user.email}; revoked ${reset.sessions_revoked} session(s)`,
  )
}
