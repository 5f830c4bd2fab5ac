import { createVerifier } from '@latchkey/verifier'
import { buildNotesService } from './app.js'

const issuer = process.env.LATCHKEY_ISSUER ?? 'http://localhost:3000'
const verifier = createVerifier({
  issuer,
  audience: process.env.NOTES_AUDIENCE ?? 'http://localhost:4000',
  revocationPollIntervalMs: Number(process.env.NOTES_REVOCATION_POLL_MS ?? 5000),
  onError: (error) => console.error(`latchkey: ${error instanceof Error ? error.message : String(error)}`),
})
const corsOrigins = (process.env.NOTES_CORS_ORIGINS ?? '')
  .split(',')
  .map((o) => o.trim())
  .filter((o) => o !== '')
const port = Number(process.env.PORT ?? 4000)
// The origin clients address, which DPoP proofs name; never taken from a request's Host header.
const origin = process.env.NOTES_ORIGIN ?? `http://localhost:${port}`
const app = await buildNotesService({ verifier, origin, corsOrigins })
await app.listen({ port, host: process.env.HOST ?? '127.0.0.1' })
console.log(`notes service ready on ${app.listeningOrigin}, trusting ${issuer}`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    verifier.close()
    void app.close().then(() => process.exit(0))
  })
}
