// A tiny static server for the example app: the HTML and CSS as they are, app.ts and client/
// transpiled to JavaScript on request (TypeScript's own transpiler, no bundler), and /config.json
// from the environment. For local trials and tests, not for production.
import fs from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const here = path.dirname(fileURLToPath(import.meta.url))
const clientDir = path.resolve(here, '../../client/src')
// The client's runtime dependencies, served as the ES modules their packages ship: passkeys, and
// jose's WebCrypto build (its "browser" export) for DPoP proofs.
const webauthnDir = path.resolve(here, '../../node_modules/@simplewebauthn/browser/esm')
const joseDir = path.resolve(here, '../../node_modules/jose/dist/webapi')

export interface WebAppOptions {
  port: number
  host: string
  /** Latchkey's issuer URL. */
  issuer: string
  clientId: string
  /** This app's URL, e.g. http://127.0.0.1:5173 (the redirect URI is its /callback). */
  origin: string
  notesUrl?: string | null
  /** Sender-constrained tokens: the client's `dpop` option (a non-extractable key in IndexedDB). */
  dpop?: boolean
}

const transpiled = new Map<string, string>()
async function transpile(file: string): Promise<string> {
  const cached = transpiled.get(file)
  if (cached !== undefined) return cached
  const source = await fs.readFile(file, 'utf8')
  const js = ts.transpileModule(source, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022, verbatimModuleSyntax: true },
  }).outputText
  // The app imports the client's sources; in the browser they are served under /client/.
  const rewritten = js
    .replace(/from '\.\.\/\.\.\/client\/src\//g, "from '/client/")
    .replace(/from '@simplewebauthn\/browser'/g, "from '/vendor/simplewebauthn/index.js'")
    .replace(/from 'jose'/g, "from '/vendor/jose/index.js'")
  transpiled.set(file, rewritten)
  return rewritten
}

export function startWebApp(options: WebAppOptions): Promise<http.Server> {
  const config = JSON.stringify({
    issuer: options.issuer,
    clientId: options.clientId,
    redirectUri: `${options.origin}/callback`,
    notesUrl: options.notesUrl ?? null,
    dpop: options.dpop ?? false,
  })
  const notesOrigin = options.notesUrl ? new URL(options.notesUrl).origin : ''
  const csp = `default-src 'self'; connect-src 'self' ${new URL(options.issuer).origin} ${notesOrigin}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`
  const respond = async (request: http.IncomingMessage, response: http.ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', options.origin)
    const send = (status: number, type: string, body: string) => {
      response.writeHead(status, {
        'content-type': type,
        'content-security-policy': csp,
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
      })
      response.end(body)
    }
    try {
      if (url.pathname === '/' || url.pathname === '/callback')
        return send(200, 'text/html; charset=utf-8', await fs.readFile(path.join(here, 'public/index.html'), 'utf8'))
      if (url.pathname === '/first-party')
        return send(
          200,
          'text/html; charset=utf-8',
          await fs.readFile(path.join(here, 'public/first-party.html'), 'utf8'),
        )
      if (url.pathname === '/first-party.js')
        return send(200, 'text/javascript', await transpile(path.join(here, 'first-party.ts')))
      if (url.pathname === '/app.css')
        return send(200, 'text/css', await fs.readFile(path.join(here, 'public/app.css'), 'utf8'))
      if (url.pathname === '/config.json') return send(200, 'application/json', config)
      if (url.pathname === '/app.js') return send(200, 'text/javascript', await transpile(path.join(here, 'app.ts')))
      const module = /^\/client\/([a-z-]+)\.js$/.exec(url.pathname)
      if (module) return send(200, 'text/javascript', await transpile(path.join(clientDir, `${module[1]}.ts`)))
      const vendored = /^\/vendor\/simplewebauthn\/((?:[a-zA-Z]+\/)*[a-zA-Z0-9]+\.js)$/.exec(url.pathname)
      if (vendored) return send(200, 'text/javascript', await fs.readFile(path.join(webauthnDir, vendored[1]!), 'utf8'))
      const jose = /^\/vendor\/jose\/((?:[a-z0-9_]+\/)*[a-z0-9_]+\.js)$/.exec(url.pathname)
      if (jose) return send(200, 'text/javascript', await fs.readFile(path.join(joseDir, jose[1]!), 'utf8'))
      send(404, 'text/plain', 'not found')
    } catch {
      send(404, 'text/plain', 'not found')
    }
  }
  const server = http.createServer((request, response) => void respond(request, response))
  return new Promise((resolve) => server.listen(options.port, options.host, () => resolve(server)))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT ?? 5173)
  const issuer = process.env.LATCHKEY_ISSUER ?? 'http://localhost:3000'
  const clientId = process.env.CLIENT_ID
  if (!clientId) {
    console.error('set CLIENT_ID to a public client registered with --redirect-uri http://127.0.0.1:PORT/callback')
    process.exit(1)
  }
  await startWebApp({
    port,
    host: '127.0.0.1',
    issuer,
    clientId,
    origin: `http://127.0.0.1:${port}`,
    notesUrl: process.env.NOTES_URL ?? null,
    dpop: process.env.DPOP === 'true',
  })
  console.log(`example app on http://127.0.0.1:${port}`)
}
