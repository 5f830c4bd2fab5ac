import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { FastifyPluginAsync } from 'fastify'

/** Where the hosted pages load @simplewebauthn/browser from: Latchkey itself, never a CDN. */
export const WEBAUTHN_SCRIPT_PATH = '/assets/webauthn-browser.js'

/**
 * Serves the UMD bundle of @simplewebauthn/browser (global `SimpleWebAuthnBrowser`) as published
 * in the installed package, read once when the app is built. Same origin, so the pages' CSP
 * needs no other script source than their nonce.
 */
const webauthnScriptRoute: FastifyPluginAsync = async (app) => {
  const entry = createRequire(import.meta.url).resolve('@simplewebauthn/browser')
  // The package's CommonJS entry is script/index.js; its browser bundle sits beside, in dist/bundle/.
  const bundle = await readFile(join(dirname(entry), '..', 'dist', 'bundle', 'index.umd.min.js'))
  app.get(WEBAUTHN_SCRIPT_PATH, { schema: { response: { 200: { type: 'string' } } } }, async (_request, reply) =>
    reply
      .header('content-type', 'text/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=3600')
      .send(bundle),
  )
}

export default webauthnScriptRoute
