import type { Transaction } from 'kysely'
import type { Config } from '../config.js'
import type { Database } from '../db/database.js'
import { ApiError } from '../errors.js'
import type { User } from './user.js'
import { findUserForSignin } from './user.store.js'

/**
 * What a credential check proved, carried to the row it creates (a session, a hosted sign-in, a
 * second step): who, and when the check began. A password check also carries the hash it verified
 * and the credentials timestamp read with it.
 */
export interface SigninProof {
  userId: string
  /** When the check began (epoch ms): the sign-in's auth_time. */
  authTime: number
  password?: { verifiedHash: string; credentialsChangedAt: number }
}

/**
 * The proof no longer stands: the password changed, or the user's access was cut off (reset,
 * logout-all, disabled, erased), after the check began. Answered like a wrong password: the
 * password that was checked is not (or no longer) the way in.
 */
export class SigninSuperseded extends ApiError {
  constructor() {
    super('invalid_credentials', 401, 'the email or password is incorrect')
  }
}

/**
 * Finding H1: argon2 takes tens of milliseconds, and a password reset or change can commit while a
 * login waits for it. Run in the transaction that creates the sign-in: the user is read again
 * (locked on PostgreSQL), and the sign-in is refused when its auth_time is older than the user's
 * cut-off or last password change, or when the verified hash was replaced by another password (a
 * rehash of the same password, which leaves `credentials_changed_at`, is not a change).
 */
export async function assertSigninStillValid(
  trx: Transaction<Database>,
  config: Pick<Config, 'database'>,
  proof: SigninProof,
): Promise<User> {
  const user = await findUserForSignin(trx, proof.userId, config.database.dialect === 'postgres')
  if (!user || user.disabled || user.erasedAt !== null) throw new SigninSuperseded()
  if (user.tokensValidAfter > proof.authTime || user.credentialsChangedAt > proof.authTime) throw new SigninSuperseded()
  const password = proof.password
  if (
    password !== undefined &&
    user.passwordHash !== password.verifiedHash &&
    user.credentialsChangedAt !== password.credentialsChangedAt
  )
    throw new SigninSuperseded()
  return user
}
