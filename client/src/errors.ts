/** An error answered by Latchkey (`{"error","error_description"}`) or found by the client's own checks. */
export class LatchkeyError extends Error {
  override name = 'LatchkeyError'
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 0,
    /** Extra members of the error body, e.g. `mfa_token`. */
    readonly body: Record<string, unknown> = {},
  ) {
    super(`${error}: ${description}`)
  }
}

/** Turns a non-2xx response into a LatchkeyError. */
export async function errorFrom(response: Response): Promise<LatchkeyError> {
  let body: Record<string, unknown> = {}
  try {
    body = (await response.json()) as Record<string, unknown>
  } catch {
    // not JSON: keep the status only
  }
  const error = typeof body.error === 'string' ? body.error : 'http_error'
  const description = typeof body.error_description === 'string' ? body.error_description : `HTTP ${response.status}`
  return new LatchkeyError(error, description, response.status, body)
}
