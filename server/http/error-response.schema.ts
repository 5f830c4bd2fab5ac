import { Type } from '@sinclair/typebox'

/** Every error body (http/error-handler.ts): RFC 6749 §5.2's pair, for OAuth and first-party APIs alike. */
export const ErrorResponse = Type.Object({ error: Type.String(), error_description: Type.String() })
