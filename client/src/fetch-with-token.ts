/**
 * fetch with `Authorization: Bearer`, retried once with a refreshed token when the API answers 401
 * (the token expired or was revoked early). A request body that is a stream cannot be replayed, so
 * pass bodies as strings, FormData, Blob or URLSearchParams.
 */
export async function fetchWithToken(
  getToken: () => Promise<string | null>,
  refresh: () => Promise<string | null>,
  input: RequestInfo | URL,
  init: RequestInit = {},
): Promise<Response> {
  const send = (token: string | null) => {
    const headers = new Headers(init.headers)
    if (token !== null) headers.set('authorization', `Bearer ${token}`)
    return fetch(input, { ...init, headers })
  }
  const first = await send(await getToken())
  if (first.status !== 401) return first
  const token = await refresh()
  return token === null ? first : send(token)
}
