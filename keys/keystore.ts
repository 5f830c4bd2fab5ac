import { createHash } from 'node:crypto'
import { CompactSign, importJWK, type JWTPayload } from 'jose'
import type { Logger } from 'pino'
import { runLifecycle, type LifecycleDeps } from './key-lifecycle.js'
import { decryptPrivateJwk } from './private-key-encryption.js'
import { importKek, openSealedText, sealText } from './sealed-text.js'
import type { PublicJwk } from './public-jwk.js'
import { findLiveKeys } from './signing-key.store.js'
import type { SigningKeyRow } from './signing-key.table.js'

/** The JWKS as served: serialised once per key change, with its entity tag. */
interface PublishedJwks {
  keys: PublicJwk[]
  json: string
  etag: string
}

export interface Keystore {
  /** Signs claims with the active key; `typ` distinguishes token kinds (RFC 8725 §3.11). */
  sign(claims: JWTPayload, typ: string): Promise<string>
  jwks(): PublishedJwks
  activeKid(): string | null
  /** The active key's algorithm: an ID token's at_hash depends on it (OIDC Core §3.1.3.6). */
  activeAlg(): string | null
  /** Runs any due lifecycle step, then reloads keys changed by this or another instance. */
  tick(): Promise<void>
  /** Encrypts a secret that must be stored (e.g. a refresh token's successor) under the KEK, bound to `binding`. */
  seal(binding: Record<string, string>, text: string): Promise<string>
  /** Opens what seal produced with the same binding; null if it does not open. */
  open(binding: Record<string, string>, sealed: string): Promise<string | null>
  /** Starts ticking in the background every `intervalMs`. */
  startTicking(intervalMs: number): void
  close(): void
}

interface ActiveKey {
  kid: string
  alg: string
  privateKey: CryptoKey | Uint8Array
  /** The protected header per `typ`, built once per key rather than per token. */
  headers: Map<string, { alg: string; kid: string; typ: string }>
}

const utf8 = new TextEncoder()

export interface KeystoreDeps extends LifecycleDeps {
  clock: { now(): number }
  log: Logger
}

/**
 * Opens the keystore: decrypts every live private key first (a wrong KEK stops here, before
 * anything is written), then performs any due lifecycle step (which creates the first keys on a
 * fresh database).
 */
export async function openKeystore(deps: KeystoreDeps): Promise<Keystore> {
  let active: ActiveKey | null = null
  let published: PublishedJwks = publish([])
  let loadedFingerprint = ''
  let timer: NodeJS.Timeout | null = null
  let ticking: Promise<void> | null = null

  async function load(rows: SigningKeyRow[]): Promise<void> {
    const fingerprint = rows.map((r) => `${r.kid}:${r.state}:${r.publish_until ?? ''}`).join('|')
    if (fingerprint === loadedFingerprint) return
    const activeRow = rows.find((r) => r.state === 'active')
    let nextActive: ActiveKey | null = null
    for (const row of rows) {
      if (row.private_jwk_encrypted === null) continue
      const jwk = await decryptPrivateJwk(deps.kek, row.kid, row.private_jwk_encrypted)
      if (row === activeRow)
        nextActive = {
          kid: row.kid,
          alg: row.alg,
          privateKey: (await importJWK(jwk, row.alg)) as CryptoKey,
          headers: new Map(),
        }
    }
    const now = deps.clock.now()
    const visible = rows.filter((r) => r.state !== 'retired' || (r.publish_until ?? 0) > now)
    active = nextActive
    published = publish(visible.map((r) => JSON.parse(r.public_jwk) as PublicJwk))
    loadedFingerprint = fingerprint
  }

  async function tickOnce(): Promise<void> {
    // Load (and so decrypt) what is there before any lifecycle write: a wrong KEK stops here.
    const rows = await findLiveKeys(deps.db)
    await load(rows)
    if (await runLifecycle(deps, deps.clock.now(), rows)) await load(await findLiveKeys(deps.db))
  }

  await tickOnce()
  const kekKey = await importKek(deps.kek)

  async function tick(): Promise<void> {
    // One tick at a time per instance; a slow database must not stack them up.
    ticking ??= tickOnce().finally(() => {
      ticking = null
    })
    return ticking
  }

  return {
    async sign(claims, typ) {
      const key = active
      if (!key) throw new Error('no active signing key')
      let header = key.headers.get(typ)
      if (!header) key.headers.set(typ, (header = { alg: key.alg, kid: key.kid, typ }))
      // A JWT is a JWS whose payload is the JSON claims set (RFC 7519 §7.1), which is what SignJWT
      // builds too; SignJWT first deep-copies the claims (structuredClone), which measured as a
      // visible share of a token request, and our claims are built fresh for each token anyway.
      return new CompactSign(utf8.encode(JSON.stringify(claims))).setProtectedHeader(header).sign(key.privateKey)
    },
    jwks: () => published,
    activeKid: () => active?.kid ?? null,
    activeAlg: () => active?.alg ?? null,
    tick,
    seal: (binding, text) => sealText(kekKey, binding, text),
    open: (binding, sealed) => openSealedText(kekKey, binding, sealed),
    startTicking(intervalMs) {
      timer = setInterval(() => {
        tick().catch((error: unknown) =>
          deps.log.error(
            { event: 'key.tick_failed', err: error },
            'key lifecycle tick failed; still signing with the last known key',
          ),
        )
      }, intervalMs)
      timer.unref()
    },
    close() {
      if (timer) clearInterval(timer)
      timer = null
    },
  }
}

function publish(keys: PublicJwk[]): PublishedJwks {
  const json = JSON.stringify({ keys })
  return { keys, json, etag: `"${createHash('sha256').update(json).digest('base64url').slice(0, 27)}"` }
}
