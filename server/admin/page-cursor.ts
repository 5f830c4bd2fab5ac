import { InvalidRequest } from '../errors.js'

/** Where a page ended: the sort key of its last item. Opaque to callers. */
export interface PagePosition {
  createdAt: number
  id: string
}

const DEFAULT_PAGE_LIMIT = 50
const MAX_PAGE_LIMIT = 200
// Ids are made in code (base64url, UUIDs): anything else, a control character above all (PostgreSQL
// refuses NUL in text with an error), cannot be one this server handed out.
const CURSOR_ID = /^[A-Za-z0-9._~:-]{1,128}$/

function encodeCursor(position: PagePosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id])).toString('base64url')
}

/** A cursor from an earlier answer; anything else is invalid_request. */
export function decodeCursor(cursor: string | undefined): PagePosition | null {
  if (cursor === undefined) return null
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      Number.isSafeInteger(value[0]) &&
      typeof value[1] === 'string' &&
      CURSOR_ID.test(value[1])
    )
      return { createdAt: value[0] as number, id: value[1] }
  } catch {
    // falls through to the error below
  }
  throw new InvalidRequest('cursor is not one this server handed out')
}

/**
 * One page of items: fetches limit + 1 to learn whether more follow, without a count query.
 * `next_cursor` is null on the last page.
 */
export async function readPage<T, V>(
  limit: string | number | undefined,
  fetch: (limit: number) => Promise<T[]>,
  positionOf: (item: T) => PagePosition,
  view: (item: T) => V,
): Promise<{ items: V[]; next_cursor: string | null }> {
  const size = limit === undefined ? DEFAULT_PAGE_LIMIT : Number(limit)
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_LIMIT)
    throw new InvalidRequest(`limit must be between 1 and ${MAX_PAGE_LIMIT}`)
  const rows = await fetch(size + 1)
  const page = rows.slice(0, size)
  const last = page[page.length - 1]
  return { items: page.map(view), next_cursor: rows.length > size && last ? encodeCursor(positionOf(last)) : null }
}
