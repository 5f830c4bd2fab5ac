// The security documents point at the code and tests that prove each claim (issue 11). A renamed or
// deleted file must fail here, so the documents cannot rot silently.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'

const repoRoot = path.resolve(import.meta.dirname, '..')
const documents = [
  'SECURITY.md',
  ...fs
    .readdirSync(path.join(repoRoot, 'docs/security'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/security/${name}`),
]

// A code span naming a file or folder of this repository: under one of its top-level folders, or
// one of its root files. Spans such as `latchkey keys rotate` or `LATCHKEY_KEK` are not paths.
const topFolders = '(?:server|keys|test|bench|docs|migrations|verifier|client|examples|deploy|scripts|\\.ci)'
const repoPath = new RegExp(
  `^${topFolders}/[\\w./@-]*$|^(?:README|SECURITY|package|Dockerfile)(?:\\.(?:md|json))?$|^\\.dependency-cruiser\\.cjs$`,
)

/** Every repository path a Markdown text names: code spans that look like paths, relative links. */
function pathsNamedIn(markdown: string, documentDir: string): string[] {
  const found = new Set<string>()
  for (const [, span] of markdown.matchAll(/`([^`\n]+)`/g)) {
    if (repoPath.test(span!)) found.add(span!.replace(/\/$/, ''))
  }
  for (const [, target] of markdown.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z][a-z+.-]*:/i.test(target!) || target!.startsWith('#')) continue
    found.add(path.posix.normalize(path.posix.join(documentDir, target!.split('#')[0]!)))
  }
  return [...found]
}

t.test('the path finder sees code spans and relative links, and skips commands and URLs', async (t) => {
  const text =
    'See `server/nope.ts`, `test/x.test.ts`, `README.md`, `latchkey keys rotate`, `LATCHKEY_KEK`, ' +
    '[a](threat-model.md#s), [b](../keys.md), [c](https://example.com/x.md), [d](#top).'
  t.same(pathsNamedIn(text, 'docs/security').sort(), [
    'README.md',
    'docs/keys.md',
    'docs/security/threat-model.md',
    'server/nope.ts',
    'test/x.test.ts',
  ])
})

t.test('the security documents exist', async (t) => {
  for (const name of ['architecture', 'threat-model', 'asvs', 'hardening', 'runbooks'])
    t.ok(documents.includes(`docs/security/${name}.md`), `docs/security/${name}.md`)
  t.ok(fs.existsSync(path.join(repoRoot, 'SECURITY.md')), 'SECURITY.md')
})

for (const document of documents) {
  t.test(`every repository path named in ${document} exists`, async (t) => {
    const markdown = fs.readFileSync(path.join(repoRoot, document), 'utf8')
    const named = pathsNamedIn(markdown, path.posix.dirname(document))
    t.ok(named.length >= 3, `${document} names ${named.length} paths`)
    const missing = named.filter((p) => !fs.existsSync(path.join(repoRoot, p)))
    t.same(missing, [], `paths in ${document} that do not exist`)
  })
}

// ASVS 5.0.0 has this many level 1 and 2 requirements in each chapter the mapping covers.
const asvsLevel2Requirements: Record<string, number> = {
  V6: 35,
  V7: 18,
  V8: 7,
  V9: 7,
  V10: 29,
  V13: 13,
  V14: 9,
  V15: 13,
  V16: 16,
}
const statuses = ['met', 'partly', 'not', 'n/a'] as const

t.test('the ASVS mapping marks every requirement, and its tally matches the rows', async (t) => {
  const markdown = fs.readFileSync(path.join(repoRoot, 'docs/security/asvs.md'), 'utf8')
  const counted: Record<string, Record<string, number>> = {}
  for (const line of markdown.split('\n')) {
    // "| 6.2.1 | … | met |", or a group "| 6.5.1–6.5.5 | … | n/a |"
    const row = /^\|\s*(\d+)\.\d+\.(\d+)(?:–\d+\.\d+\.(\d+))?\s*\|[^|]*\|\s*([^|]*?)\s*\|/.exec(line)
    if (!row) continue
    const [, chapter, first, last, status] = row
    t.ok((statuses as readonly string[]).includes(status!), `${line.slice(0, 20)}… is marked (${status})`)
    const byStatus = (counted[`V${chapter}`] ??= {})
    byStatus[status!] = (byStatus[status!] ?? 0) + (last ? Number(last) - Number(first) + 1 : 1)
  }
  for (const [chapter, expected] of Object.entries(asvsLevel2Requirements)) {
    const rows = Object.values(counted[chapter] ?? {}).reduce((a, b) => a + b, 0)
    t.equal(rows, expected, `${chapter} has a row for each of its ${expected} requirements`)
    const tally = new RegExp(`^\\|\\s*${chapter}\\s*\\|([^\\n]*)$`, 'm').exec(markdown)
    const numbers = tally?.[1]!
      .split('|')
      .slice(0, 4)
      .map((cell) => Number(cell.trim()))
    t.same(
      numbers,
      statuses.map((s) => counted[chapter]?.[s] ?? 0),
      `the ${chapter} tally row`,
    )
  }
})
