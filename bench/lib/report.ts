// Printing a comparison: a table with one column per server, and one HOLDS/MISSED line per bar.

export interface Bar {
  holds: boolean
  text: string
}

/** Fixed digits with thousands separators, as every bench prints numbers. */
export function fixed(value: number, digits = 0): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** The first column left-aligned, the others right-aligned, three spaces apart. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => row[i]!.length)))
  const line = (row: string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('   ')
  console.log()
  console.log(line(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('   '))
  for (const row of rows) console.log(line(row))
  console.log()
}

export function printBars(bars: Record<string, Bar>): void {
  for (const bar of Object.values(bars)) console.log(`${bar.holds ? 'HOLDS ' : 'MISSED'}  ${bar.text}`)
}
