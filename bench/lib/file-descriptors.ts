// File descriptors of the processes a bench starts (Linux /proc; null elsewhere).
import fs from 'node:fs'
import { spawnSync } from 'node:child_process'
import { BenchError } from './bench-error.js'

export interface FileLimit {
  soft: number
  hard: number
}

/** This process's RLIMIT_NOFILE; children inherit it. */
export function fileLimitOfThisProcess(): FileLimit | null {
  const limits = fs.readFileSync('/proc/self/limits', 'utf8')
  const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits)
  if (!match) return null
  const value = (text: string) => (text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text))
  return { soft: value(match[1]!), hard: value(match[2]!) }
}

/**
 * Raises this process's soft file limit to `wanted` (its children inherit it). Going above the
 * hard limit needs root (prlimit); a limit that stays too low is a BenchError naming both numbers.
 */
export function raiseFileLimit(wanted: number, why: string): void {
  const current = fileLimitOfThisProcess()
  if (current && current.soft >= wanted) return
  const hard = current && current.hard >= wanted ? current.hard : wanted
  const raised = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${wanted}:${hard}`], {
    encoding: 'utf8',
  })
  const now = fileLimitOfThisProcess()
  if (now === null || now.soft < wanted)
    throw new BenchError(
      `${why} needs a file limit of ${wanted}, but this process has ${now?.soft ?? '?'} (hard ${now?.hard ?? '?'}) ` +
        `and could not raise it: ${raised.stderr.trim() || 'prlimit failed'}`,
    )
}

/** How many descriptors `pid` holds now; null once it is gone. */
export function openFilesOf(pid: number): number | null {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return null
  }
}
