import path from 'node:path'
import { spawn } from 'node:child_process'
import type { DatabaseConfig } from '../../server/config.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the real `latchkey` command (from the sources) with only the environment given. */
export function runLatchkey(args: string[], env: Record<string, string>, stdin = ''): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli/main.ts', ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', ...env },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(stdin)
  })
}

/** The environment that points the CLI at a test's data dir and database. */
export function cliEnv(dataDir: string, database: DatabaseConfig): Record<string, string> {
  return {
    LATCHKEY_DATA_DIR: dataDir,
    DATABASE_URL: database.dialect === 'postgres' ? database.url : `sqlite:${database.file}`,
  }
}
