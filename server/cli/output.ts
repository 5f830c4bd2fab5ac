/** Prints rows as an aligned table for people; --json callers get JSON instead. */
export function printTable(rows: Record<string, string>[], columns: string[]): void {
  if (rows.length === 0) {
    console.log('(none)')
    return
  }
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  console.log(line(columns.map((c) => c.toUpperCase())))
  for (const row of rows) console.log(line(columns.map((c) => row[c] ?? '')))
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2))
}

export function isoOrEmpty(ms: number | null): string {
  return ms === null ? '' : new Date(ms).toISOString()
}

/** A command's misuse or failure: printed as one line, exit status 1. */
export class CliError extends Error {
  override name = 'CliError'
}
