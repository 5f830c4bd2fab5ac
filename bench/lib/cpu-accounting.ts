// CPU used by everything else on the machine while a phase runs: the machine is shared, and other
// work during a phase makes its numbers meaningless. Linux /proc only; null elsewhere.
import { readFile } from 'node:fs/promises'
import type { BenchSettings } from './settings.js'

export const clockTicksPerSecond = 100 // USER_HZ, 100 on every mainstream Linux build

/** Other processes using more than this many cores during a phase make it a rerun. */
export const busyMachineCores = 0.15

async function machineBusyTicks(): Promise<number | null> {
  const stat = await readFile('/proc/stat', 'utf8').catch(() => null)
  const fields = stat?.split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number)
  if (!fields || fields.length < 5) return null
  // user nice system idle iowait irq softirq steal ...: busy is everything but idle and iowait.
  return fields.slice(0, 8).reduce((sum, value) => sum + value, 0) - fields[3]! - fields[4]!
}

/** CPU ticks (USER_HZ) a process used so far, all threads; null once it is gone. */
export async function processTicks(pid: number): Promise<number | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null)
  if (!stat) return null
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12]) // utime + stime, all threads
}

/**
 * CPU ticks of a process's main thread (its thread id is its pid): for node, the event loop with
 * its JavaScript. The rest of the process's ticks went to other threads (libuv's pool, where
 * argon2 hashes; V8's GC and compiler helpers).
 */
export async function mainThreadTicks(pid: number): Promise<number | null> {
  const stat = await readFile(`/proc/${pid}/task/${pid}/stat`, 'utf8').catch(() => null)
  if (!stat) return null
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

export interface CpuSnapshot {
  at: number
  busy: number | null
  /** CPU ticks of the bench process and of each process of ours, summed. */
  ours: number | null
}

/** The machine's busy time and that of the bench process plus `pids` (the servers under test). */
export async function cpuSnapshot(pids: number[] = []): Promise<CpuSnapshot> {
  const at = performance.now()
  const busy = await machineBusyTicks()
  const ticks = await Promise.all([process.pid, ...pids].map(processTicks))
  const ours = ticks.includes(null) ? null : ticks.reduce((sum: number, t) => sum + t!, 0)
  return { at, busy, ours }
}

/** Cores' worth of CPU used by other processes between two snapshots. */
export function otherCpu(before: CpuSnapshot, after: CpuSnapshot): number | null {
  if (before.busy === null || after.busy === null || before.ours === null || after.ours === null) return null
  const ticks = after.busy - before.busy - (after.ours - before.ours)
  return Math.max(0, ticks / clockTicksPerSecond / ((after.at - before.at) / 1000))
}

/**
 * Runs a measured phase again (up to settings.maxAttempts in all) while other processes took CPU
 * during it, and keeps the attempt they disturbed least.
 */
export async function measureQuietly<T extends { otherProcessesCpuCores: number | null }>(
  settings: Pick<BenchSettings, 'maxAttempts'>,
  run: () => Promise<T>,
): Promise<T & { attempts: number }> {
  let best: T | null = null
  let attempts = 0
  while (attempts < settings.maxAttempts) {
    attempts++
    const result = await run()
    if (best === null || (result.otherProcessesCpuCores ?? 0) < (best.otherProcessesCpuCores ?? 0)) best = result
    const other = result.otherProcessesCpuCores
    if (other === null || other <= busyMachineCores) break
    if (attempts < settings.maxAttempts)
      process.stderr.write(`    other processes used ${other.toFixed(2)} cores meanwhile: measuring again\n`)
  }
  return { ...best!, attempts }
}
