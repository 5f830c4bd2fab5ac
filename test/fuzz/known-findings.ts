import type { Dialect } from '../helpers/test-database.js'
import type { WireRequest } from './endpoint-fuzzer.js'

interface KnownFinding {
  /** Who fixes it, and where it is tracked. */
  why: string
  matches(wire: WireRequest, violation: string, dialect: Dialect): boolean
}

/**
 * Findings of the fuzzer that another branch is fixing (issue 11, "Bad input, tried as a new
 * user would" — the wt-tokens helper). Listed so that this suite stays green meanwhile; each entry
 * goes when its fix is merged, and the suite then proves the fix on every route.
 */
const knownFindings: KnownFinding[] = [
  {
    why: 'issue 11: NUL in a text parameter (email, name…) reaches PostgreSQL, which refuses it (wt-tokens)',
    matches: (wire, violation, dialect) =>
      dialect === 'postgres' &&
      violation === 'status 500' &&
      // In a parameter, or a %00 the path carries into a path parameter (`/admin/clients/x%00`).
      (Object.values(wire.fields).some((value) => value.includes('\u0000')) || wire.target.includes('%00')),
  },
]

export function knownFindingOf(wire: WireRequest, violation: string, dialect: Dialect): string | null {
  return knownFindings.find((known) => known.matches(wire, violation, dialect))?.why ?? null
}
