// @simplewebauthn/server (with its CBOR, ASN.1 and COSE parsers) holds several MiB of memory once
// loaded, and only the passkey routes use it: it is loaded on the first passkey request, not at
// startup. The import is cached by the module system, so later requests pay nothing.
import type * as WebauthnServer from '@simplewebauthn/server'
import type * as WebauthnHelpers from '@simplewebauthn/server/helpers'

/** The WebAuthn verification library, loaded on first use. */
export function loadWebauthnServer(): Promise<typeof WebauthnServer> {
  return import('@simplewebauthn/server')
}

/** Its helpers (client data decoding), loaded on first use like the library itself. */
export function loadWebauthnHelpers(): Promise<typeof WebauthnHelpers> {
  return import('@simplewebauthn/server/helpers')
}
