export {
  createVerifier,
  bearerTokenOf,
  type Verifier,
  type VerifierOptions,
  type AccessTokenClaims,
} from './create-verifier.js'
export { VerifierError, isVerifierError, type VerifierErrorCode } from './errors.js'
export { bearerErrorResponse, toBearerErrorResponse, type BearerErrorResponse } from './bearer-error.js'
export { scopesOf, hasScopes, assertScopes } from './scope.js'
export { DEFAULT_ALGORITHMS } from './algorithms.js'
export { DPOP_ALGORITHMS, createMemoryDpopReplayStore, type DpopReplayStore, type DpopRequest } from './dpop.js'
