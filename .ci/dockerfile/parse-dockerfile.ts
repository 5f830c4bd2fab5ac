/** One Dockerfile instruction, its continuation lines joined. */
export interface Instruction {
  /** The line the instruction starts on (1-based). */
  line: number
  /** Upper-cased: `RUN`, `COPY`… */
  keyword: string
  /** What follows the keyword, continuation lines joined the way Docker joins them. */
  args: string
  /** The whole instruction on one line, every whitespace run one space: what the step table matches. */
  text: string
}

export class DockerfileError extends Error {}

/**
 * Splits a Dockerfile into instructions as Docker does: a line ending in `\` continues on the
 * next one (the backslash and newline are dropped), and comment or blank lines are dropped even in
 * the middle of a continued instruction. Only the default escape character is understood, so an
 * `# escape=` directive is refused rather than misread.
 */
export function parseDockerfile(source: string): Instruction[] {
  const lines = source.split(/\r?\n/)
  for (const line of lines) {
    const directive = /^#\s*([A-Za-z]+)\s*=/.exec(line)
    if (!directive) break
    if (directive[1]?.toLowerCase() === 'escape')
      throw new DockerfileError(`the parser directive "${line.trim()}" is not understood by this check`)
  }
  const instructions: Instruction[] = []
  let pending: { line: number; raw: string } | null = null
  lines.forEach((line, index) => {
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#')) return
    const continues = /\\\s*$/.test(line)
    const piece = continues ? line.replace(/\\\s*$/, '') : line
    pending = pending === null ? { line: index + 1, raw: piece } : { line: pending.line, raw: pending.raw + piece }
    if (!continues) {
      instructions.push(toInstruction(pending.line, pending.raw))
      pending = null
    }
  })
  if (pending !== null) {
    const last: { line: number; raw: string } = pending
    instructions.push(toInstruction(last.line, last.raw))
  }
  return instructions
}

function toInstruction(line: number, raw: string): Instruction {
  const match = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(raw)
  if (!match?.[1]) throw new DockerfileError(`Dockerfile line ${line}: cannot parse "${raw.trim()}"`)
  const keyword = match[1].toUpperCase()
  const args = (match[2] ?? '').trim()
  return { line, keyword, args, text: `${keyword} ${args}`.trim().replace(/\s+/g, ' ') }
}
