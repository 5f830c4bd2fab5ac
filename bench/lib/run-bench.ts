// A bench's entry: settings first (every bad one reported, --help lists them), children killed on
// Ctrl-C or failure, a non-zero exit code on failure.
import { BenchError } from './bench-error.js'
import { killAllChildren } from './child-process.js'
import { BenchSettingsError, describeBenchSettings, loadBenchSettings, type BenchSettings } from './settings.js'

export async function runBench(
  options: Parameters<typeof loadBenchSettings>[0],
  main: (settings: BenchSettings) => Promise<void>,
): Promise<void> {
  if (process.argv.includes('--help')) {
    console.log(`Bench settings (a flag wins over its variable):\n${describeBenchSettings()}`)
    return
  }
  process.once('SIGINT', () => {
    killAllChildren()
    process.exit(130)
  })
  try {
    await main(loadBenchSettings(options))
  } catch (error) {
    killAllChildren()
    const explained = error instanceof BenchError || error instanceof BenchSettingsError
    console.error(`\nbench FAILED: ${explained ? error.message : error instanceof Error ? error.stack : String(error)}`)
    process.exitCode = 1
  }
}
