import type { Config } from '../config.js'

/** Origins trusted with credentials: Latchkey's own (issuer, public URL) and LATCHKEY_CORS_ORIGINS. */
export function allowedOrigins(config: Pick<Config, 'issuer' | 'publicUrl' | 'corsOrigins'>): ReadonlySet<string> {
  return new Set([new URL(config.issuer).origin, new URL(config.publicUrl).origin, ...config.corsOrigins])
}
