// How long runnable tasks waited for a CPU during a phase: Linux PSI (/proc/pressure/cpu), or the
// run queue from /proc/loadavg where the kernel has no PSI.
import { readFile } from 'node:fs/promises'

export interface PressureSnapshot {
  at: number
  /** `some` total: microseconds during which at least one runnable task waited for a CPU. */
  someTotalUs: number | null
}

export interface CpuPressure {
  /** Share of the phase (0–1) during which at least one runnable task waited for a CPU (PSI). */
  someShare: number | null
  /** PSI `some avg10` at the end of the phase, in percent. */
  someAvg10: number | null
  /** /proc/loadavg's runnable tasks at the end (the fallback without PSI) and the 1-minute load. */
  runnable: number | null
  load1: number | null
}

async function readPsi(): Promise<{ avg10: number; total: number } | null> {
  const text = await readFile('/proc/pressure/cpu', 'utf8').catch(() => null)
  const match = text && /^some avg10=([\d.]+) .* total=(\d+)/m.exec(text)
  return match ? { avg10: Number(match[1]), total: Number(match[2]) } : null
}

export async function pressureSnapshot(): Promise<PressureSnapshot> {
  return { at: performance.now(), someTotalUs: (await readPsi())?.total ?? null }
}

export async function cpuPressureSince(before: PressureSnapshot): Promise<CpuPressure> {
  const now = performance.now()
  const psi = await readPsi()
  const loadavg = (await readFile('/proc/loadavg', 'utf8').catch(() => '')).trim().split(/\s+/)
  const running = /^(\d+)\//.exec(loadavg[3] ?? '')
  return {
    someShare: psi && before.someTotalUs !== null ? (psi.total - before.someTotalUs) / 1000 / (now - before.at) : null,
    someAvg10: psi?.avg10 ?? null,
    runnable: running ? Number(running[1]) : null,
    load1: loadavg[0] ? Number(loadavg[0]) : null,
  }
}
