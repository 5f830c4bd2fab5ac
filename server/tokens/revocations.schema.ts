import { Type } from '@sinclair/typebox'

const Id = Type.String({ maxLength: 64 })
const Time = Type.Integer({ description: 'epoch seconds' })

export const RevocationsQuery = Type.Object(
  { since: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'a cursor from an earlier answer' })) },
  { additionalProperties: true },
)

/** Ids and times only: nothing here is secret. */
export const RevocationsResponse = Type.Object({
  cursor: Type.String(),
  full: Type.Boolean({ description: 'true: the whole feed; false: changes since the cursor given, to merge' }),
  sessions: Type.Array(Type.Object({ sid: Id, until: Time })),
  tokens: Type.Array(Type.Object({ jti: Id, until: Time })),
  users: Type.Array(Type.Object({ sub: Id, issued_before: Time, until: Time })),
})
