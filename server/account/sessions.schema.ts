import { Type } from '@sinclair/typebox'

const SessionView = Type.Object({
  id: Type.String(),
  current: Type.Boolean(),
  client_id: Type.String(),
  created_at: Type.String(),
  last_used_at: Type.String(),
  expires_at: Type.String(),
  ip: Type.Union([Type.String(), Type.Null()]),
  user_agent: Type.Union([Type.String(), Type.Null()]),
})

export const SessionList = Type.Object({ sessions: Type.Array(SessionView) })

export const SessionParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })
