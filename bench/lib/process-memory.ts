// A process's resident memory from /proc/<pid>/status (Linux).
import { readFile } from 'node:fs/promises'
import { BenchError } from './bench-error.js'

export interface Memory {
  pid: number
  command: string
  rssMiB: number
  peakRssMiB: number
}

export async function memoryOf(pid: number): Promise<Memory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
    if (!match) throw new BenchError(`no ${field} in /proc/${pid}/status`)
    return Number(match[1]) / 1024
  }
  const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean)
  // A server passed inline with -e (the transpiled oidc-provider server): do not print all of it.
  const command = cmdline.map((arg) => (arg.length > 80 ? `<${arg.length} chars>` : arg)).join(' ')
  return { pid, command, rssMiB: kib('VmRSS'), peakRssMiB: kib('VmHWM') }
}
