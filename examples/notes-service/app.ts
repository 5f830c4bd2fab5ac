import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import cors from '@fastify/cors'
import type { Verifier } from '@latchkey/verifier'
import { latchkeyAuth, requireScope } from '@latchkey/verifier/fastify'

export interface NotesServiceOptions {
  verifier: Verifier
  /** This service's origin as clients address it, e.g. `https://notes.example.com`: DPoP proofs name it. */
  origin: string
  /** Browser origins allowed to call the API (exact matches); none by default. */
  corsOrigins?: readonly string[]
}

interface Note {
  id: string
  text: string
  created_at: string
}

const Params = {
  type: 'object',
  required: ['userId'],
  properties: { userId: { type: 'string', minLength: 1, maxLength: 64 } },
} as const
const NoteBody = {
  type: 'object',
  required: ['text'],
  additionalProperties: false,
  properties: { text: { type: 'string', minLength: 1, maxLength: 1000 } },
} as const
const NoteSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, text: { type: 'string' }, created_at: { type: 'string' } },
} as const
const ErrorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, error_description: { type: 'string' } },
} as const
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 503: ErrorSchema }

/** A resource service: each user's notes, readable and writable by that user's tokens only. */
export async function buildNotesService(options: NotesServiceOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  // In memory: this is an example of authorization, not of storage.
  const notes = new Map<string, Note[]>()

  if (options.corsOrigins?.length) {
    // Bearer tokens, not cookies: no credentials mode, only the headers a token call needs.
    await app.register(cors, {
      origin: [...options.corsOrigins],
      methods: ['GET', 'POST'],
      allowedHeaders: ['authorization', 'content-type', 'dpop'],
      exposedHeaders: ['www-authenticate'],
      maxAge: 600,
    })
  }
  app.get('/healthz', async () => ({ status: 'ok' }))

  await app.register(async (api) => {
    // Every route in this context needs a valid, unrevoked Latchkey access token.
    await api.register(latchkeyAuth, { verifier: options.verifier, origin: options.origin })
    // A valid token is not enough: it must be the token of the user whose notes these are.
    api.addHook('preHandler', async (request, reply) => {
      const { userId } = request.params as { userId: string }
      if (request.auth?.sub !== userId)
        return reply.code(403).send({ error: 'forbidden', error_description: 'these are not your notes' })
    })

    api.get(
      '/users/:userId/notes',
      {
        schema: {
          params: Params,
          response: { 200: { type: 'object', properties: { notes: { type: 'array', items: NoteSchema } } }, ...errors },
        },
        preHandler: requireScope('notes:read'),
      },
      async (request) => {
        const { userId } = request.params as { userId: string }
        return { notes: notes.get(userId) ?? [] }
      },
    )

    api.post(
      '/users/:userId/notes',
      {
        schema: { params: Params, body: NoteBody, response: { 201: NoteSchema, ...errors } },
        preHandler: requireScope('notes:write'),
      },
      async (request, reply) => {
        const { userId } = request.params as { userId: string }
        const note: Note = {
          id: randomUUID(),
          text: (request.body as { text: string }).text,
          created_at: new Date().toISOString(),
        }
        notes.set(userId, [...(notes.get(userId) ?? []), note])
        return reply.code(201).send(note)
      },
    )
  })
  return app
}
