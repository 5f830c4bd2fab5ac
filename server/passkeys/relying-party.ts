import type { Config } from '../config.js'

/** Latchkey as a WebAuthn relying party: one RP id and one exact origin, both from LATCHKEY_PUBLIC_URL. */
export interface RelyingParty {
  /** WebAuthn L3 §5.1.2: the public URL's host, without port. */
  id: string
  name: string
  /** The only origin whose client data is accepted (scheme, host and port, exactly). */
  origin: string
}

export function relyingPartyOf(config: Pick<Config, 'publicUrl' | 'productName'>): RelyingParty {
  const url = new URL(config.publicUrl)
  return { id: url.hostname, name: config.productName, origin: url.origin }
}
