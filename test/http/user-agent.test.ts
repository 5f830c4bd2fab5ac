import net from 'node:net'
import t from 'tap'
import { buildTestApp } from '../helpers/build-test-app.js'
import { testDialects } from '../helpers/test-database.js'
import { ORIGIN, PASSWORD, registerUser } from '../helpers/users.js'

/** POST /auth/login over a raw socket, so the User-Agent carries exactly these bytes. */
function loginWithUserAgent(port: number, userAgent: Buffer, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(
        Buffer.concat([
          Buffer.from(
            `POST /auth/login HTTP/1.1\r\nHost: localhost\r\nOrigin: ${ORIGIN}\r\nX-Requested-With: latchkey\r\n` +
              `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nUser-Agent: `,
          ),
          userAgent,
          Buffer.from(`\r\nConnection: close\r\n\r\n${body}`),
        ]),
      )
    })
    let received = ''
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
    socket.on('error', reject)
    socket.on('close', () => resolve(received))
  })
}

for (const dialect of testDialects()) {
  t.test(`control characters in User-Agent are neither stored nor shown back on ${dialect}`, async (t) => {
    const testApp = await buildTestApp(t, { dialect })
    await registerUser(testApp, 'ada@example.com')
    await testApp.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = testApp.app.server.address() as net.AddressInfo

    // 0x9B is the 8-bit CSI (a terminal escape), arriving as U+009B; a tab is a C0 character HTTP
    // allows in a header value (the parser refuses the others with 400).
    const raw = await loginWithUserAgent(
      port,
      Buffer.from([0x41, 0x9b, 0x32, 0x4a, 0x09, 0x42]),
      JSON.stringify({ email: 'ada@example.com', password: PASSWORD }),
    )
    t.match(raw, /^HTTP\/1\.1 200 /)
    const { access_token: accessToken } = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { access_token: string }

    const listed = await testApp.app.inject({
      method: 'GET',
      url: '/auth/sessions',
      headers: { authorization: `Bearer ${accessToken}` },
    })
    t.equal(listed.statusCode, 200)
    const shown = (listed.json() as { sessions: Array<{ user_agent: string | null }> }).sessions.map(
      (s) => s.user_agent,
    )
    t.same(shown, ['A\ufffd2J\ufffdB'], 'regression: U+009B was stored and returned as sent')
  })
}
