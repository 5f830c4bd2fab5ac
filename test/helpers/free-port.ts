import net from 'node:net'
import { randomInt } from 'node:crypto'

// Below Linux's ephemeral range (32768-60999): the kernel never hands these ports to outgoing
// connections, so a port found free here cannot be taken by one of the many client sockets a load
// test opens between the check and the moment a server (PostgreSQL, HAProxy, Latchkey) binds it.
const LOWEST = 20000
const HIGHEST = 32767
const handedOut = new Set<number>()

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** A loopback port that was free a moment ago, for processes that must know their URL before listening. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = randomInt(LOWEST, HIGHEST + 1)
    if (handedOut.has(port)) continue
    if (await bindable(port)) {
      handedOut.add(port)
      return port
    }
  }
  throw new Error(`no free loopback port between ${LOWEST} and ${HIGHEST}`)
}
