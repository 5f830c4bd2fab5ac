import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server'
import { Value } from '@sinclair/typebox/value'
import { ApiError } from '../errors.js'
import { AuthenticationResponse, RegistrationResponse } from './passkeys.schema.js'

const malformed = () => new ApiError('invalid_request', 400, 'the passkey response is malformed')

function parseJson(text: string | undefined): unknown {
  if (text === undefined || text === '') throw malformed()
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw malformed()
  }
}

/** A hosted form's `passkey_response` field: the JSON of a sign-in assertion, checked like the API's body. */
export function parsePasskeyResponse(text: string | undefined): AuthenticationResponseJSON {
  const value = parseJson(text)
  if (!Value.Check(AuthenticationResponse, value)) throw malformed()
  return value as AuthenticationResponseJSON
}

/** A hosted form's `passkey_response` field: the JSON of a new credential. */
export function parseRegistrationResponse(text: string | undefined): RegistrationResponseJSON {
  const value = parseJson(text)
  if (!Value.Check(RegistrationResponse, value)) throw malformed()
  return value as RegistrationResponseJSON
}
