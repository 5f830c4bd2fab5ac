// @latchkey/client: sign users in to Latchkey from the browser. Runtime dependencies: @simplewebauthn/browser, for
// passkeys, and jose (its WebCrypto build), for DPoP proofs.
export { createFirstPartyClient, type FirstPartyClient, type FirstPartyOptions } from './first-party.js'
export { createRedirectClient, type RedirectClient, type RedirectOptions, type SignInOptions } from './redirect.js'
export { LatchkeyError } from './errors.js'
export type { AuthListener, AuthState } from './auth-state.js'
