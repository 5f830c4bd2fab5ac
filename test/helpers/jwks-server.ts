import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { JWK } from 'jose'

export interface JwksServer {
  url: string
  /** GET requests answered so far. */
  fetches(): number
  /** What the next GET answers. */
  publish(keys: JWK[]): void
  /** The status of the next GETs: 200 with the published keys, or this status and no body. */
  answer(status: number): void
}

/** A client's jwks_uri: a real HTTP server on loopback that counts the fetches; closed at teardown. */
export async function startJwksServer(
  t: { teardown(fn: () => unknown): void },
  keys: JWK[],
  cacheControl = 'max-age=300',
): Promise<JwksServer> {
  let published = keys
  let count = 0
  let status = 200
  const server = createServer((request, response) => {
    count++
    if (status !== 200) {
      response.writeHead(status).end()
      return
    }
    response.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': cacheControl })
    response.end(JSON.stringify({ keys: published }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    fetches: () => count,
    publish(next) {
      published = next
    },
    answer(next) {
      status = next
    },
  }
}
