// The calibration servers of bench/calibration/ (issue 15): minimal servers doing the work of one
// hot path with no product logic, measured in the same run as Latchkey so every bar is a ratio.
// Each is transpiled in memory (no TypeScript loader in the measured process, as Latchkey runs
// compiled JS) into bench/calibration/.build/ (git-ignored; inside the checkout so their imports
// find node_modules) and started like any server under test.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import ts from 'typescript'
import { freePort } from './free-port.js'
import { benchDir } from './paths.js'
import { printed, startNodeServer, type RunningServer } from './server-under-test.js'

/** (a) hello-world JSON, (b) client_credentials, (c) refresh rotation, (d) the authorization-code round trip. */
export type CalibrationName = 'hello' | 'client-credentials' | 'refresh' | 'authorization-code'

const sources = path.join(benchDir, 'calibration')
let built: Promise<string> | null = null

async function build(): Promise<string> {
  const out = path.join(sources, '.build')
  await mkdir(out, { recursive: true })
  for (const file of (await readdir(sources)).filter((name) => name.endsWith('.ts'))) {
    const { outputText } = ts.transpileModule(await readFile(path.join(sources, file), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      fileName: file,
    })
    await writeFile(path.join(out, file.replace(/\.ts$/, '.js')), outputText)
  }
  return out
}

/** Starts calibration `name` on a free loopback port with a data dir of its own, removed when it stops. */
export async function startCalibration(
  name: CalibrationName,
  env: Record<string, string> = {},
): Promise<RunningServer> {
  built ??= build()
  const dir = await built
  const port = await freePort()
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-calibration-'))
  return startNodeServer({
    name: `calibration ${name}`,
    args: [path.join(dir, `${name}.js`)],
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, ...env },
    port,
    ready: printed('ready'),
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  })
}
