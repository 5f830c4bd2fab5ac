// Writing a bench's results file. Results are committed; machine paths are not.
import { writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { benchDir, repoRoot } from './paths.js'

/** Writes bench/<fileName> as indented JSON, paths inside `roots` made relative ('.'); its path. */
export async function writeResults(fileName: string, report: unknown, roots: string[] = []): Promise<string> {
  let text = JSON.stringify(report, null, 2)
  for (const root of [...roots, repoRoot].sort((a, b) => b.length - a.length)) text = text.replaceAll(root, '.')
  const file = path.join(benchDir, fileName)
  await writeFile(file, `${text}\n`)
  return file
}

/** When and on what a run was measured: the head of every Latchkey-only results file. */
export function runFacts(): { date: string; node: string; cpus: number } {
  return { date: new Date().toISOString(), node: process.version, cpus: os.availableParallelism() }
}
