import net from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/**
 * One HTTP/1.1 request written byte for byte on its own connection: no client library refuses or
 * repairs what the fuzzer sends (NUL in a header, a broken Content-Length, a 40 KB cookie), so the
 * server's own parser and error handlers see exactly the hostile request.
 */
export function sendRaw(port: number, head: string, body: Buffer, timeoutMs: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    const chunks: Buffer[] = []
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    // The server may answer and close before reading the whole body (431, 413): that is an answer.
    socket.on('error', () => undefined)
    socket.on('close', () => {
      clearTimeout(timer)
      const parsed = parseResponse(Buffer.concat(chunks))
      if (parsed) resolve(parsed)
      else reject(new Error('connection closed without an HTTP response'))
    })
    socket.write(Buffer.concat([Buffer.from(head, 'utf8'), body]))
  })
}

function parseResponse(raw: Buffer): RawResponse | null {
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) return null
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n')
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')
  if (!status) return null
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  let body = raw.subarray(end + 4)
  if (headers['transfer-encoding']?.includes('chunked')) body = dechunk(body)
  return { status: Number(status[1]), headers, body: body.toString('utf8') }
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at)
    if (lineEnd < 0) break
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16)
    if (!(size > 0)) break
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size))
    at = lineEnd + 2 + size + 2
  }
  return Buffer.concat(parts)
}
