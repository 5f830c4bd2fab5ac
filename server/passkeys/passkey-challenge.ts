import type { Deps } from '../deps.js'
import { ApiError } from '../errors.js'
import type { ChallengePurpose } from './passkey.table.js'
import { consumeChallenge, insertChallenge } from './webauthn-challenge.store.js'
import { loadWebauthnHelpers } from './webauthn-library.js'

/** How long the browser has to answer options; challenges die with them. */
export const CHALLENGE_TTL_MS = 5 * 60_000

export async function storeChallenge(
  deps: Pick<Deps, 'db' | 'clock'>,
  challenge: string,
  purpose: ChallengePurpose,
  userId: string | null,
): Promise<void> {
  await insertChallenge(deps.db, { challenge, purpose, userId, now: deps.clock.now(), ttlMs: CHALLENGE_TTL_MS })
}

/**
 * The challenge the browser signed (from its client data), taken out of the store: it must have
 * been issued by us for this purpose (and user), be unexpired and unused. Good once, whatever
 * happens next.
 */
export async function takeChallenge(
  deps: Pick<Deps, 'db' | 'clock'>,
  clientDataJSON: string,
  purpose: ChallengePurpose,
  userId: string | null,
): Promise<string> {
  const { decodeClientDataJSON } = await loadWebauthnHelpers()
  let challenge: string
  try {
    const clientData = decodeClientDataJSON(clientDataJSON)
    challenge = clientData.challenge
  } catch {
    throw new ApiError('invalid_request', 400, 'the passkey response is malformed')
  }
  // Our challenges are base64url: anything else (a NUL above all, which PostgreSQL refuses in text
  // with an error) is malformed before it reaches the database.
  if (typeof challenge !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(challenge))
    throw new ApiError('invalid_request', 400, 'the passkey response is malformed')
  if (!(await consumeChallenge(deps.db, { challenge, purpose, userId, now: deps.clock.now() })))
    throw new ApiError('passkey_challenge_invalid', 400, 'the passkey request expired or was already used; start again')
  return challenge
}
