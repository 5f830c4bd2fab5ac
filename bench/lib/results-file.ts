// Writing a bench's results file. Results are committed; machine paths are not.
import { writeFile } from 'node:fs/promises'
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
